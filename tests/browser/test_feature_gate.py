"""End to end in headless Chromium: a page gated by a feature (Stripe Entitlements).

The demo user is on Basic, whose product carries "basic-reports" only: the account page
lists that feature, and "Pro reports" sends them back with a word about the Pro plan.
Switching to Pro in the (stand-in) portal makes the stand-in send the new entitlement
summary, signed, as Stripe does; back on the site the gated page opens.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import RunningDemo

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WIDTH = 1280


def test_the_pro_reports_page_opens_once_the_plan_carries_the_feature(
    demo: RunningDemo, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{demo.url}/accounts/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator("#features .feature")).to_have_text(["Basic reports"])

    page.locator("#pro-reports-link").click()
    expect(page).to_have_url(f"{demo.url}/account/?needs=pro-reports")
    expect(page.locator("#needs-feature")).to_be_visible()
    page.screenshot(path=artifacts / "feature-01-needs-pro.png", full_page=True)

    page.get_by_role("button", name="Change plan").first.click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/p/session/"))
    page.get_by_role("button", name="Switch plan").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(demo.url)}/account/"))
    expect(page.locator(".plan-name")).to_have_text("Pro")
    expect(page.locator("#features .feature")).to_have_text(["Basic reports", "Pro reports"])

    page.locator("#pro-reports-link").click()
    expect(page).to_have_url(f"{demo.url}/reports/")
    expect(page.locator("#pro-reports")).to_have_text("Pro reports")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"the reports page is {width} px wide"
    page.screenshot(path=artifacts / "feature-02-pro-reports.png", full_page=True)
    context.close()

    # The platform's customer (the demo's merchant customer has a summary of its own).
    with sqlite3.connect(demo.database) as connection:
        summaries = connection.execute(
            "SELECT payload, status FROM django_stripe_portal_webhookevent "
            "WHERE type = 'entitlements.active_entitlement_summary.updated' AND account = ''"
            " ORDER BY created_at, id"
        ).fetchall()
        (stored,) = connection.execute(
            "SELECT lookup_keys FROM django_stripe_portal_activeentitlements WHERE account = ''"
        ).fetchall()
    assert [status for _, status in summaries] == ["processed", "processed"]
    last = json.loads(summaries[-1][0])["data"]["object"]
    assert [e["lookup_key"] for e in last["entitlements"]["data"]] == [
        "basic-reports",
        "pro-reports",
    ]
    assert json.loads(stored[0]) == ["basic-reports", "pro-reports"]
