"""Headless Chromium for the tests that look at a page as a browser would.

`find_chromium` is what the `chromium` fixture (conftest.py) returns: the executable, or
a skip (a failure under CI=true, where .ci/run installs it). `dump_dom` loads a URL, lets
its scripts run for a few seconds of virtual time, and returns the resulting DOM.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
import trio

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    reason = "headless Chromium not installed (Debian: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; the browser tests must run when CI=true")
    pytest.skip(reason)


async def dump_dom(chromium: str, url: str) -> str:
    """The DOM of `url` after its scripts ran (asserts Chromium exited cleanly)."""
    with tempfile.TemporaryDirectory(prefix="switchyard-chromium-") as profile:
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
            "--virtual-time-budget=5000", "--dump-dom", url,
        ]  # fmt: skip
        with trio.fail_after(90):
            result = await trio.run_process(
                command, capture_stdout=True, capture_stderr=True, check=False
            )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-2000:]
    return result.stdout.decode("utf-8", "replace")
