"""The pages people read, in headless Chromium at 1280 px: every page the test reaches is
measured (``tests/browser/layout.py``: nothing wider than the window or its box, no word
cut, no text crushed to a letter a line), words and people's names where people read (not
Stripe's identifiers), visits newest first. Screenshots go to test-artifacts/browser/
(``1280-*.png``).

One demo run: a customer cancels, undoes it, changes plan and updates the card through
the (stand-in) portal; then staff open every admin page the app adds: the index, each
list and a record of each, the activity and at-risk pages.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, RunningDemo
from tests.browser.layout import LayoutWatch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH = 1280
#: Screenshots docs/admin.md shows, refreshed with UPDATE_DOCS_SCREENSHOTS=1.
DOCS_SCREENSHOTS = {"admin-index": "admin-index.png", "admin-portalsession": "admin-sessions.png"}

#: Stripe identifiers that must never be what a person reads on these pages.
RAW_IDS = re.compile(
    r"\b(too_expensive|missing_features|switched_service|too_complex|low_quality|"
    r"customer_service|subscription_update|subscription_cancel|payment_method_update|"
    r"customer_update|cancel_scheduled|plan_changed|payment_method_changed|"
    r"cancellation_requested|past_due|incomplete_expired)\b"
)


def _log_in(
    page: Any, layout: LayoutWatch, demo: RunningDemo, username: str, password: str
) -> None:
    page.goto(f"{demo.url}/accounts/login/")
    layout.measure(page, "log-in page")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()


def _assert_no_raw_ids(where: Any, what: str) -> None:
    """``where``: a Playwright locator (the page's body, a table …)."""
    text = where.inner_text()
    found = sorted(set(RAW_IDS.findall(text)))
    assert not found, f"{what}: identifiers where words belong: {found}"


ADMIN = "/admin/django_stripe_portal"


def _through_the_portal(page: Any, layout: LayoutWatch, button: str, act: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name=button).first.click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/p/session/"))
    layout.measure(page, f"the stand-in portal ({button})")
    act(page)


def _look(page: Any, layout: LayoutWatch, artifacts: Path, name: str) -> None:
    """Every page: a screenshot to look at, then measured."""
    page.wait_for_load_state("load")
    page.screenshot(path=artifacts / f"1280-{name}.png", full_page=True)
    layout.measure(page, name)
    if name in DOCS_SCREENSHOTS and os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        # The window's height only: the page's top is what the docs show.
        page.screenshot(path=ROOT / "docs" / "img" / DOCS_SCREENSHOTS[name])


def test_pages_fit_1280_and_read_as_words(
    demo: RunningDemo, browser: Any, artifacts: Path, layout: LayoutWatch
) -> None:
    from playwright.sync_api import expect

    customer = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = layout.watch(customer.new_page())
    page.set_default_timeout(20_000)
    page.goto(f"{demo.url}/")
    _look(page, layout, artifacts, "home")
    _log_in(page, layout, demo, "demo", "demo-password")
    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator("#person")).to_have_text("Dana Li")
    layout.measure(page, "account page")

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

    _through_the_portal(page, layout, "Cancel plan", cancel("too_expensive"))
    expect(page.locator(".cancel-scheduled")).to_be_visible()
    layout.measure(page, "account page, cancellation scheduled")
    _through_the_portal(page, layout, "Manage billing", renew)
    expect(page.locator(".cancel-scheduled")).to_have_count(0)
    layout.measure(page, "account page, renewed")
    _through_the_portal(page, layout, "Change plan", switch)
    expect(page).to_have_url(f"{demo.url}/account/")
    layout.measure(page, "account page, plan changed")
    _through_the_portal(page, layout, "Update card", card)
    expect(page).to_have_url(f"{demo.url}/account/")
    layout.measure(page, "account page, card updated")
    _through_the_portal(page, layout, "Cancel plan", cancel("missing_features"))
    expect(page.locator(".cancel-scheduled")).to_be_visible()
    expect(page.locator(".cancel-reason")).to_have_text("missing features")
    layout.measure(page, "account page, cancellation scheduled again")

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
    _look(page, layout, artifacts, "account")
    _assert_no_raw_ids(page.locator("body"), "account page")
    account_text = page.locator("#content, body").first.inner_text()
    assert "cus_" not in account_text and "has_active_subscription" not in account_text
    assert "webhook" not in account_text.lower()

    # A bookmarked button URL sends the user back to the account page, not to a 405.
    page.goto(f"{demo.url}/billing/portal/")
    expect(page).to_have_url(f"{demo.url}/account/")
    layout.measure(page, "account page, after a bookmarked button URL")
    customer.close()

    staff = browser.new_context(viewport={"width": WIDTH, "height": 900})
    admin = layout.watch(staff.new_page())
    admin.set_default_timeout(20_000)
    _log_in(admin, layout, demo, "admin", "admin-password")
    layout.measure(admin, "after the staff log-in")

    admin.goto(f"{demo.url}/admin/")
    _look(admin, layout, artifacts, "admin-index")
    section = admin.locator("#content-main .app-django_stripe_portal")
    expect(section).to_have_count(1)  # one section of the app, its pages in it
    expect(admin.get_by_role("link", name="Stripe customer portal")).to_have_count(1)
    section.get_by_role("link", name="Portal activity").first.click()
    expect(admin).to_have_url(f"{demo.url}{ADMIN}/portalsession/activity/")
    layout.measure(admin, "activity page from the index")

    admin.goto(f"{demo.url}{ADMIN}/")
    _look(admin, layout, artifacts, "admin-app-index")
    # Every page the app adds to the admin, as its own index lists them.
    listed = admin.locator("#content-main .app-django_stripe_portal th a")
    pages = [link.get_attribute("href") for link in listed.all()]
    assert len(pages) == 7, pages  # five tables, the activity and at-risk pages

    expected_rows = {
        "portalsession": 5,
        # The demo customer's, and the merchant's customer's on the connected account.
        "stripesubscription": 2,
        "stripecustomer": 2,
    }
    for href in pages:
        model = href.removeprefix(f"{ADMIN}/").split("/")[0]
        admin.goto(f"{demo.url}{href}")
        if href.endswith(("/activity/", "/at-risk/")):
            layout.measure(admin, href)  # and below, with their own checks
            continue
        result = admin.locator("#result_list tbody tr")
        if model in expected_rows:
            expect(result).to_have_count(expected_rows[model])
        _look(admin, layout, artifacts, f"admin-{model}")
        _assert_no_raw_ids(admin.locator("#result_list"), f"{model} list")
        # A record of each table: its own page, titled with the person where it has one.
        result.first.locator("th a, td a").first.click()
        expect(admin).to_have_url(re.compile(rf".*{model}/\d+/change/"))
        _look(admin, layout, artifacts, f"admin-{model}-record")
        if model in ("portalsession", "stripesubscription", "stripecustomer"):
            assert "cus_" not in admin.locator("#content > h2").inner_text()

    # The one table that is ours to edit has an add page too.
    admin.goto(f"{demo.url}{ADMIN}/stripecustomer/add/")
    _look(admin, layout, artifacts, "admin-stripecustomer-add")

    # People, not ids: the lists name the customers.
    admin.goto(f"{demo.url}{ADMIN}/portalsession/")
    expect(admin.locator("#result_list td.field-customer").first).to_have_text("Dana Li")
    layout.measure(admin, "sessions list")
    admin.goto(f"{demo.url}{ADMIN}/stripesubscription/")
    names = admin.locator("#result_list th.field-customer").all_inner_texts()
    assert sorted(names) == ["Dana Li", "Sam Baker"]
    layout.measure(admin, "subscriptions list")
    admin.goto(f"{demo.url}{ADMIN}/webhookevent/?q=Dana")
    expect(admin.locator("#result_list td.field-customer").first).to_have_text("Dana Li")
    _look(admin, layout, artifacts, "admin-events-found-by-name")

    # The visit list is newest first too (card update second, plan change third), and the
    # plan change's page does not call the earlier cancellation's feedback its own.
    admin.goto(f"{demo.url}{ADMIN}/portalsession/")
    layout.measure(admin, "sessions list")
    admin.locator("#result_list tbody tr").nth(2).locator("th a").click()
    inline = admin.locator(".inline-group")
    expect(inline).to_contain_text("plan changed")
    expect(admin.locator("#content > h2")).to_contain_text("Dana Li")
    assert "too expensive" not in inline.inner_text().lower()
    assert "too_expensive" not in inline.inner_text()
    _look(admin, layout, artifacts, "admin-session")
    _assert_no_raw_ids(inline, "session page's changes")

    activity = f"{demo.url}{ADMIN}/portalsession/activity/"
    admin.goto(activity)
    _look(admin, layout, artifacts, "activity")
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
    _look(admin, layout, artifacts, "activity-weekly")
    _assert_activity_page(admin, "activity page, by week")

    # The demo customer's cancellation is scheduled again at the end: at risk, in words.
    admin.goto(f"{demo.url}{ADMIN}/portalsession/at-risk/")
    expect(admin.locator("#customers-at-risk")).to_contain_text("Cancellation scheduled")
    # A person, not an id, and the run rate at stake with its currency.
    first = admin.locator("#customers-at-risk tr.customer").first
    expect(first.locator(".person")).not_to_have_text(re.compile(r"^cus_"))
    expect(first.locator("td.money")).to_have_text("$29.00 a month")
    _look(admin, layout, artifacts, "at-risk")

    admin.goto(f"{activity}?start=2026-11-03&end=2026-11-01")
    expect(admin.locator("#range-error")).to_contain_text("The range ends before it starts.")
    expect(admin.locator("#activity-summary")).to_have_count(0)
    _look(admin, layout, artifacts, "activity-bad-range")
    staff.close()


def _assert_activity_page(page: Any, what: str) -> None:
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
