"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from .browser import find_chromedriver, find_chromium


@pytest.fixture
def chromium() -> str:
    """The Chromium executable; skip (or fail under CI=true) when there is none.

    Synchronous, so the skip and its reason are reported before the trio test starts.
    """
    return find_chromium()


@pytest.fixture
def chromedriver(chromium: str) -> str:
    """Debian's chromedriver for Selenium; skip (or fail under CI=true) when there is none."""
    return find_chromedriver()
