"""Tests for switchyard.protocol (wire frames, close codes, signing)."""
