"""Headless Chromium for the tests that look at a page as a browser would.

`find_chromium` is what the `chromium` fixture (conftest.py) returns: the executable, or
a skip (a failure under CI=true, where .ci/run installs it). `dump_dom` loads a URL, lets
its scripts run for a few seconds of virtual time, and returns the resulting DOM.

`open_browser` drives the same Chromium through Selenium and Debian's chromedriver
(`find_chromedriver`; the `browser` fixture) for tests that fill forms and click: the
Selenium calls block, so `Browser` runs each one in a worker thread. `screenshot` writes
a PNG only when SWITCHYARD_SCREENSHOT_DIR is set (how docs/screenshots/ is refreshed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_NAMES = ("chromedriver", "chromium-driver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
DESKTOP = (1280, 900)
PHONE = (390, 844)  # a current phone's CSS viewport
SCREENSHOT_DIR = "SWITCHYARD_SCREENSHOT_DIR"
T = TypeVar("T")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; the browser tests must run when CI=true")
    pytest.skip(reason)


def find_chromium() -> str:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    _missing("headless Chromium not installed (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


def find_chromedriver() -> str:
    """Debian's chromedriver (package chromium-driver), or a skip (failure under CI=true)."""
    for name in DRIVER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    _missing("chromedriver not installed (Debian: apt-get install chromium-driver)")
    raise AssertionError("unreachable")


async def dump_dom(chromium: str, url: str) -> str:
    """The DOM of `url` after its scripts ran (asserts Chromium exited cleanly)."""
    with tempfile.TemporaryDirectory(prefix="switchyard-chromium-") as profile:
        command = [
            chromium, *FLAGS, f"--user-data-dir={profile}",
            "--virtual-time-budget=5000", "--dump-dom", url,
        ]  # fmt: skip
        with trio.fail_after(90):
            result = await trio.run_process(
                command, capture_stdout=True, capture_stderr=True, check=False
            )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-2000:]
    return result.stdout.decode("utf-8", "replace")


class Browser:
    """A Selenium-driven Chromium page; every method runs its blocking call in a thread."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(partial(fn, *args))

    async def get(self, url: str) -> None:
        await self._run(self.driver.get, url)

    async def viewport(self, size: tuple[int, int]) -> None:
        """Emulate a `size` CSS-pixel viewport at scale 1 (mobile below 600 px wide)."""
        metrics = {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600,
        }  # fmt: skip
        await self._run(self.driver.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride", metrics)

    async def fill(self, name: str, value: str, form: str = "main form") -> None:
        """Type `value` into the input called `name` of the first matching `form`."""

        def fill() -> None:
            field = self.driver.find_element("css selector", f'{form} [name="{name}"]')
            field.clear()
            field.send_keys(value)

        await self._run(fill)

    async def submit(self, form: str = "main form") -> None:
        """Click the submit button of `form` and wait for the next page to load."""

        def submit() -> None:
            before = self.driver.find_element("css selector", "html")
            self.driver.find_element("css selector", f"{form} button[type=submit]").click()
            _wait(lambda: _stale(before))

        await self._run(submit)

    async def text(self, css: str = "main") -> str:
        return await self._run(lambda: self.driver.find_element("css selector", css).text)

    async def count(self, css: str) -> int:
        return await self._run(lambda: len(self.driver.find_elements("css selector", css)))

    async def attribute(self, css: str, name: str) -> str | None:
        return await self._run(
            lambda: self.driver.find_element("css selector", css).get_attribute(name)
        )

    async def script(self, source: str, *args: Any) -> Any:
        return await self._run(self.driver.execute_script, source, *args)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    async def screenshot(self, name: str) -> Path | None:
        """Save the page as docs-ready `name`.png when SWITCHYARD_SCREENSHOT_DIR is set."""
        folder = os.environ.get(SCREENSHOT_DIR)
        if not folder:
            return None
        path = Path(folder) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await self._run(self.driver.save_screenshot, str(path))
        return path


def _stale(element: Any) -> bool:
    """Whether `element`'s page is gone. Mid-navigation chromedriver may say so with a
    generic error ("Node with given id does not belong to the document") rather than a
    stale reference; both mean the old document was replaced."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.tag_name  # noqa: B018 (touching it is the check)
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def _wait(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll `predicate` in the worker thread (Selenium's own wait, bounded)."""
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(None, timeout, poll_frequency=0.05).until(lambda _: predicate())


@asynccontextmanager
async def open_browser(
    chromium: str, chromedriver: str, size: tuple[int, int] = DESKTOP
) -> AsyncIterator[Browser]:
    """A fresh headless Chromium (own profile) at `size`, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="switchyard-selenium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
            options.add_argument(flag)

        def start() -> Any:
            driver = webdriver.Chrome(service=Service(chromedriver), options=options)
            driver.set_page_load_timeout(30)
            return driver

        with trio.fail_after(90):
            driver = await trio.to_thread.run_sync(start)
        try:
            browser = Browser(driver)
            await browser.viewport(size)
            yield browser
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(driver.quit)
