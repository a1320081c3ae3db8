"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from .browser import find_chromium


@pytest.fixture
def chromium() -> str:
    """The Chromium executable; skip (or fail under CI=true) when there is none.

    Synchronous, so the skip and its reason are reported before the trio test starts.
    """
    return find_chromium()
