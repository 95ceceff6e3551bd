"""The pages people read, in headless Chromium at 1280 px: nothing wider than the window,
no word split across lines, words where people read (not Stripe's identifiers), visits
newest first. Screenshots go to test-artifacts/browser/ (``1280-*.png``).

One demo run: a customer cancels, undoes it, changes plan and updates the card through
the (stand-in) portal; then staff look at the admin's lists and the activity page.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import RunningDemo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH = 1280

#: Stripe identifiers that must never be what a person reads on these pages.
RAW_IDS = re.compile(
    r"\b(too_expensive|missing_features|switched_service|too_complex|low_quality|"
    r"customer_service|subscription_update|subscription_cancel|payment_method_update|"
    r"customer_update|cancel_scheduled|plan_changed|payment_method_changed|"
    r"cancellation_requested|past_due|incomplete_expired)\b"
)

_MEASURE = """() => {
  const doc = document.documentElement;
  const tables = [...document.querySelectorAll('table')]
    .filter(table => table.offsetParent !== null)
    .map(table => ({
      id: table.id || table.closest('[id]')?.id || '',
      width: Math.ceil(table.getBoundingClientRect().width),
      room: table.parentElement.clientWidth,
    }));
  return {scrollWidth: doc.scrollWidth, tables};
}"""

#: Cells whose text takes more lines than it has words (+ <wbr> break points): a word
#: was cut, e.g. "CANCEL AT P…" or a change kind a few letters per line.
_SPLIT_WORDS = """(selector) => {
  const split = [];
  for (const cell of document.querySelectorAll(selector)) {
    const text = cell.innerText.trim();
    if (!text) continue;
    const breaks = text.split(/\\s+/).length + cell.querySelectorAll('wbr').length;
    const tops = [];
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      if (!walker.currentNode.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(walker.currentNode);
      tops.push(...[...range.getClientRects()].map(r => r.top));
    }
    tops.sort((a, b) => a - b);
    let lines = 0, last = -100;
    for (const top of tops) { if (top - last > 6) { lines += 1; last = top; } }
    const clipped = cell.scrollWidth > cell.clientWidth + 1;
    if (lines > breaks || clipped) split.push(`${text} (${lines} lines, ${cell.scrollWidth} px)`);
  }
  return split;
}"""


def _log_in(page: Any, demo: RunningDemo, username: str, password: str) -> None:
    page.goto(f"{demo.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()


def _assert_fits(page: Any, what: str) -> dict[str, Any]:
    measured: dict[str, Any] = page.evaluate(_MEASURE)
    assert measured["scrollWidth"] <= WIDTH, f"{what}: the page is {measured['scrollWidth']} px"
    for table in measured["tables"]:
        assert table["width"] <= table["room"], f"{what}: table {table} is wider than its room"
    return measured


def _assert_no_raw_ids(where: Any, what: str) -> None:
    """``where``: a Playwright locator (the page's body, a table …)."""
    text = where.inner_text()
    found = sorted(set(RAW_IDS.findall(text)))
    assert not found, f"{what}: identifiers where words belong: {found}"


def _through_the_portal(page: Any, button: str, act: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name=button).first.click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/p/session/"))
    act(page)


def test_pages_fit_1280_and_read_as_words(demo: RunningDemo, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    customer = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = customer.new_page()
    page.set_default_timeout(20_000)
    _log_in(page, demo, "demo", "demo-password")
    expect(page).to_have_url(f"{demo.url}/account/")

    def cancel(reason: str) -> Any:
        def act(portal: Any) -> None:
            portal.select_option("#reason", reason)
            portal.get_by_role("button", name="Cancel plan").click()

        return act

    def renew(portal: Any) -> None:
        portal.get_by_role("button", name="Renew plan").click()

    def switch(portal: Any) -> None:
        portal.get_by_role("button", name="Switch plan").click()

    def card(portal: Any) -> None:
        portal.fill("#card_number", "5555 5555 5555 4444")
        portal.get_by_role("button", name="Update card").click()

    _through_the_portal(page, "Cancel plan", cancel("too_expensive"))
    expect(page.locator(".cancel-scheduled")).to_be_visible()
    _through_the_portal(page, "Manage billing", renew)
    expect(page.locator(".cancel-scheduled")).to_have_count(0)
    _through_the_portal(page, "Change plan", switch)
    expect(page).to_have_url(f"{demo.url}/account/")
    _through_the_portal(page, "Update card", card)
    expect(page).to_have_url(f"{demo.url}/account/")
    _through_the_portal(page, "Cancel plan", cancel("missing_features"))
    expect(page.locator(".cancel-scheduled")).to_be_visible()
    expect(page.locator(".cancel-reason")).to_have_text("missing features")

    # Stripe's times are whole seconds: give every visit the same one, as a quick
    # customer gets, and the page must still list the newest visit first.
    with sqlite3.connect(demo.database) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM django_stripe_portal_portalsession ORDER BY id"
            )
        ]
        connection.execute(
            "UPDATE django_stripe_portal_portalsession SET created_at = "
            "(SELECT MAX(created_at) FROM django_stripe_portal_portalsession)"
        )
    assert len(ids) == 5
    page.reload()
    rows = page.locator("#visits tr")
    expect(rows).to_have_count(6)  # the header and five visits
    changes = [rows.nth(i).locator("td.changes").inner_text() for i in range(1, 6)]
    flows = [rows.nth(i).locator("td.flow").inner_text() for i in range(1, 6)]
    assert changes == [
        "cancellation scheduled",
        "payment method changed",
        "plan changed",
        "cancellation undone",
        "cancellation scheduled",
    ]
    assert flows == ["cancellation", "card update", "plan change", "portal home", "cancellation"]
    assert rows.nth(1).locator("td.flow").get_attribute("title") == "subscription_cancel"
    page.screenshot(path=artifacts / "1280-account.png", full_page=True)
    _assert_fits(page, "account page")
    _assert_no_raw_ids(page.locator("body"), "account page")

    # A bookmarked button URL sends the user back to the account page, not to a 405.
    page.goto(f"{demo.url}/billing/portal/")
    expect(page).to_have_url(f"{demo.url}/account/")
    customer.close()

    staff = browser.new_context(viewport={"width": WIDTH, "height": 900})
    admin = staff.new_page()
    admin.set_default_timeout(20_000)
    _log_in(admin, demo, "admin", "admin-password")

    admin.goto(f"{demo.url}/admin/")
    admin.get_by_role("link", name="Portal activity").first.click()
    expect(admin).to_have_url(f"{demo.url}/admin/django_stripe_portal/portalsession/activity/")

    for model, expected_rows in [
        ("portalsession", 5),
        ("webhookevent", None),
        # The demo customer's, and the merchant's customer's on the connected account.
        ("stripesubscription", 2),
    ]:
        admin.goto(f"{demo.url}/admin/django_stripe_portal/{model}/")
        result = admin.locator("#result_list tbody tr")
        if expected_rows is not None:
            expect(result).to_have_count(expected_rows)
        admin.screenshot(path=artifacts / f"1280-admin-{model}.png", full_page=True)
        _assert_fits(admin, f"{model} list")
        cells = "#result_list th, #result_list td, #changelist-filter li"
        assert admin.evaluate(_SPLIT_WORDS, cells) == []
        _assert_no_raw_ids(admin.locator("#result_list"), f"{model} list")

    # The visit list is newest first too (card update second, plan change third), and the
    # plan change's page does not call the earlier cancellation's feedback its own.
    admin.goto(f"{demo.url}/admin/django_stripe_portal/portalsession/")
    admin.locator("#result_list tbody tr").nth(2).locator("th a").click()
    inline = admin.locator(".inline-group")
    expect(inline).to_contain_text("plan changed")
    assert "too expensive" not in inline.inner_text().lower()
    assert "too_expensive" not in inline.inner_text()
    admin.screenshot(path=artifacts / "1280-admin-session.png", full_page=True)
    _assert_no_raw_ids(inline, "session page's changes")
    _assert_fits(admin, "session page")

    activity = f"{demo.url}/admin/django_stripe_portal/portalsession/activity/"
    admin.goto(activity)
    admin.screenshot(path=artifacts / "1280-activity.png", full_page=True)
    _assert_activity_page(admin, "activity page, 30 days")
    # The money: the demo customer pays $9.00 a month (Basic), switched to Pro in a visit
    # ($29.00: +$20.00), and scheduled a cancellation of it in another.
    money = admin.locator('#money dl.money[data-currency="usd"]')
    expect(money).to_contain_text("$29.00")
    expect(money).to_contain_text("$20.00")
    expect(admin.locator("#money .movement-chart svg")).to_have_count(1)
    expect(admin.locator("#visits-and-cancellations svg")).to_have_count(1)
    admin.locator("#money").screenshot(path=artifacts / "1280-activity-money.png")
    reason = admin.locator("#cancellation-reasons tbody tr", has_text="Missing features")
    expect(reason.locator("td.number")).to_have_text("1")
    expect(admin.locator("#visits-table")).not_to_have_attribute("open", "")

    today = dt.datetime.now(tz=dt.UTC).date()
    admin.goto(f"{activity}?start={today - dt.timedelta(days=119)}&end={today}")
    expect(admin.locator("#visits-per-day h2")).to_have_text("Visits and unique customers per week")
    admin.screenshot(path=artifacts / "1280-activity-weekly.png", full_page=True)
    _assert_activity_page(admin, "activity page, by week")

    # The demo customer's cancellation is scheduled again at the end: at risk, in words.
    admin.goto(f"{demo.url}/admin/django_stripe_portal/portalsession/at-risk/")
    expect(admin.locator("#customers-at-risk")).to_contain_text("Cancellation scheduled")
    # A person, not an id, and the run rate at stake with its currency.
    first = admin.locator("#customers-at-risk tr.customer").first
    expect(first.locator(".person")).not_to_have_text(re.compile(r"^cus_"))
    expect(first.locator("td.money")).to_have_text("$29.00 a month")
    assert admin.evaluate(_SPLIT_WORDS, "#customers-at-risk td.money") == []
    admin.screenshot(path=artifacts / "1280-at-risk.png", full_page=True)
    _assert_fits(admin, "customers at risk")

    admin.goto(f"{activity}?start=2026-11-03&end=2026-11-01")
    expect(admin.locator("#range-error")).to_contain_text("The range ends before it starts.")
    expect(admin.locator("#activity-summary")).to_have_count(0)
    admin.screenshot(path=artifacts / "1280-activity-bad-range.png", full_page=True)
    _assert_fits(admin, "activity page, bad range")
    staff.close()


def _assert_activity_page(page: Any, what: str) -> None:
    _assert_fits(page, what)
    _assert_no_raw_ids(page.locator("#content-main"), what)
    chart = page.locator("#visits-per-day svg").bounding_box()
    assert chart is not None and chart["width"] >= 800, f"{what}: chart {chart}"
    # Every chart drawn at (nearly) its own size: a shrunk chart shrinks its labels.
    scales = page.evaluate(
        "() => [...document.querySelectorAll('#content-main svg[role=img]')]"
        ".map(svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width)"
    )
    # Visits, outcomes, visits beside cancellations, and one movement chart per currency.
    assert len(scales) >= 3 and min(scales) >= 0.95, f"{what}: charts drawn at {scales}"
    label_heights = page.evaluate(
        "() => [...document.querySelectorAll('#content-main svg text')]"
        ".map(t => t.getBoundingClientRect().height)"
    )
    assert label_heights and min(label_heights) >= 12, f"{what}: chart labels {label_heights}"
    text = page.locator("#content-main").inner_text()
    other_formats = re.findall(r"\d{1,2}/\d{1,2}/\d{4}|[A-Z][a-z]{2}\.? \d{1,2}, \d{4}", text)
    assert not other_formats, f"{what}: dates in another format: {other_formats}"
