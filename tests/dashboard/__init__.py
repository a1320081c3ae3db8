"""Tests for the server-rendered dashboard: its charts (pure code) and pages."""
