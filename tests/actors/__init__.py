"""Tests of the domain actors."""
