"""Tests for the provider agent (switchyard.agent) against a fake coordinator peer."""
