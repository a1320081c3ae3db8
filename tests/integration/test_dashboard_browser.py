"""The dashboard in a real headless Chromium (Selenium + Debian's chromedriver), with the
session cookie `Secure` as in production (Chromium treats http://127.0.0.1 as secure).

One newcomer's walk-through, nothing admin after the invite code: sign up with the code,
create a key (the key shown once then calls the API through the `openai` SDK), buy credit
(the form redirects to the fake Stripe's Checkout URL; its webhook credits), link a real
`switchyard provider login` by approving its code in the browser (the agent then serves
from its saved token), and see the usage and earnings charts drawn, with points, at a
desktop and a phone viewport. With SWITCHYARD_SCREENSHOT_DIR set it saves the pages
shown in the README (`docs/screenshots/`).
"""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import openai
import trio

from ..billing.fake_stripe import FakeStripe, running_fake_stripe
from ..billing.helpers import WEBHOOK_SECRET, event_payload, stripe_signature
from ..polling import wait_until
from .browser import DESKTOP, PHONE, Browser, open_browser
from .dashboard_helpers import sign_up_in_browser
from .harness import Running, coordinator, fast_settings
from .selfservice_helpers import CLI, PRICE, USER_CODE, agent_from_token_file, read_until


async def _chart_points(browser: Browser, chart_id: str) -> int:
    return await browser.count(f"#{chart_id} svg.chart circle")


async def _fits(browser: Browser) -> bool:
    """True when the page needs no horizontal scrolling (tables scroll in their own box)."""
    return bool(
        await browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


PAGES = ("/dashboard/", "/dashboard/keys", "/dashboard/usage", "/dashboard/billing",
         "/dashboard/providers", "/dashboard/device")  # fmt: skip
UNLABELLED = """
return [...document.querySelectorAll('input:not([type=hidden]), select, button')]
  .filter(e => e.labels ? (e.tagName !== 'BUTTON' && e.labels.length === 0) : false)
  .concat([...document.querySelectorAll('button')].filter(b => !b.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 120));
"""


async def _accessible_pages(browser: Browser, running: Running) -> None:
    """Every page has its landmarks and a language, and every control a label or text."""
    for page in PAGES:
        await browser.get(f"{running.base_url}{page}")
        assert await browser.attribute("html", "lang") == "en"
        for landmark in ("header", "nav", "main", "footer", "h1"):
            assert await browser.count(landmark) == 1, (page, landmark)
        assert await browser.script(UNLABELLED) == [], page
        assert await browser.count("a.skip[href='#main']") == 1


async def _buy_credit(browser: Browser, running: Running, fake: FakeStripe) -> None:
    await browser.get(f"{running.base_url}/dashboard/billing")
    await browser.fill("amount_usd", "20")
    await browser.screenshot("billing")
    await browser.submit()
    [session] = fake.sessions.values()
    assert browser.url.startswith(session["url"])  # the browser went to Checkout
    assert session["success_url"].endswith("/dashboard/billing?done=paid")
    # The buyer pays on Stripe's page; Stripe then calls the webhook and sends them back.
    _, payload = event_payload(fake.complete_session(session["id"]))
    hook = await running.admin.post(
        "/v1/billing/webhook",
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
    )
    assert hook.status_code == 200 and hook.json()["outcome"] == "credited"
    await browser.get(session["success_url"])
    assert await browser.text("#balance") == "$20.00"
    assert "Payment received" in await browser.text("main")


async def _link_provider(browser: Browser, running: Running, token_file: Path) -> None:
    """`switchyard provider login` waits for its code; the owner approves it here."""
    command = [*CLI, "provider", "login", "--coordinator", running.base_url,
               "--name", "gpu-box-1", "--token-file", str(token_file)]  # fmt: skip
    async with trio.open_nursery() as nursery:
        proc = await nursery.start(
            partial(trio.run_process, command, check=False, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
        )  # fmt: skip
        user_code = (await read_until(proc.stderr, USER_CODE)).decode()
        await browser.get(f"{running.base_url}/dashboard/device")
        await browser.fill("user_code", user_code.lower().replace("-", " "))  # typed loosely
        await browser.submit("#device-lookup")
        assert await browser.text("#device-code") == user_code
        assert "gpu-box-1" in await browser.text("main")
        await browser.screenshot("device")
        await browser.submit("#device-confirm")
        assert "Approved" in await browser.text("#device-done")
        with trio.fail_after(60):
            rest = b""
            while chunk := await proc.stderr.receive_some(4096):
                rest += chunk
            assert await proc.wait() == 0, rest
    saved = await trio.Path(token_file).read_text()
    assert saved.startswith("pt-sy-")


async def _call_api(base_url: str, api_key: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0) as sdk:
        for _ in range(3):
            reply = await sdk.chat.completions.create(
                model="sim-small", messages=[{"role": "user", "content": "hello"}]
            )
            assert reply.choices[0].message.content


async def _charts_at_both_sizes(browser: Browser, running: Running) -> None:
    for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        await browser.viewport(size)
        await browser.get(f"{running.base_url}/dashboard/usage?days=7")
        assert await _chart_points(browser, "usage-tokens") == 7  # one model, 7 days
        assert await browser.attribute("#usage-tokens svg", "role") == "img"
        drawn = await browser.script(
            "const r = document.querySelector('#usage-tokens svg').getBoundingClientRect();"
            "return [r.width, r.height, window.innerWidth];"
        )
        assert 0 < drawn[0] <= drawn[2] and drawn[1] > 0, drawn
        assert await _fits(browser)
        await browser.screenshot(f"usage{suffix}")
        await browser.get(f"{running.base_url}/dashboard/")
        assert await _chart_points(browser, "usage-tokens") == 14
        assert await _fits(browser)
        await browser.screenshot(f"overview{suffix}")
    await browser.viewport(DESKTOP)


async def test_newcomer_walks_through_the_dashboard(
    chromium: str, chromedriver: str, tmp_path: Path
) -> None:
    async with running_fake_stripe() as fake:
        settings = fast_settings().with_overrides(
            stripe_secret_key=fake.secret_key,
            stripe_api_base=fake.base_url,
            stripe_webhook_secret=WEBHOOK_SECRET,
        )
        async with (
            coordinator(settings) as running,
            open_browser(chromium, chromedriver) as browser,
        ):
            await running.admin.put("/admin/pricing/sim-small", json=PRICE)
            await browser.get(f"{running.base_url}/dashboard/")
            assert "/dashboard/login" in browser.url
            await browser.screenshot("login")

            await sign_up_in_browser(browser, running, "newcomer")
            assert browser.url.endswith("/dashboard/keys")
            await browser.fill("name", "laptop", "#create-key")
            await browser.fill("rpm", "60", "#create-key")
            await browser.submit("#create-key")
            api_key = await browser.text("#new-key-value")
            assert api_key.startswith("sk-sy-")
            await browser.screenshot("keys")
            await browser.get(f"{running.base_url}/dashboard/keys")  # shown once only
            assert api_key not in await browser.script("return document.body.innerHTML")
            assert "laptop" in await browser.text("#keys")

            await _buy_credit(browser, running, fake)
            token_file = tmp_path / "provider_token"
            await _link_provider(browser, running, token_file)

            key_file = tmp_path / "key"
            async with agent_from_token_file(running.base_url, token_file, key_file):
                await _serve_and_look(browser, running, api_key)


async def _serve_and_look(browser: Browser, running: Running, api_key: str) -> None:
    async def node_row() -> Any:
        await browser.get(f"{running.base_url}/dashboard/providers")
        text = await browser.text("main")
        return text if "online" in text and "sim-small" in text else None

    await wait_until(node_row, timeout=30, interval=0.5)
    await _call_api(running.base_url, api_key)

    async def charged() -> bool:
        await browser.get(f"{running.base_url}/dashboard/usage?days=7")
        return await browser.count("#usage-table tbody tr") == 1

    await wait_until(charged, timeout=15, interval=0.3)
    row = await browser.text("#usage-table tbody tr")
    assert "sim-small" in row and " 3 " in f" {row} "  # three requests today
    await _charts_at_both_sizes(browser, running)

    await _accessible_pages(browser, running)
    await browser.get(f"{running.base_url}/dashboard/providers")
    assert await _chart_points(browser, "earnings") == 30
    assert "Drain" in await browser.text("#nodes")
    await browser.screenshot("providers")
    await browser.viewport(PHONE)
    for page, table in (("providers", "#nodes"), ("keys", "#keys")):
        await browser.get(f"{running.base_url}/dashboard/{page}")
        assert await _fits(browser)
        # On a phone the rows become labelled cards: nothing to scroll sideways.
        assert await browser.script(
            f"const t = document.querySelector('{table}').parentElement;"
            "return t.scrollWidth <= t.clientWidth + 1;"
        ), page
        await browser.screenshot(f"{page}-phone")
