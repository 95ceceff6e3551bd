"""End to end in headless Chromium: the example project's whole portal loop, offline.

Log in → "Manage billing" → the (stand-in) portal → cancel with a reason → back on the
account page, which shows the scheduled cancellation; then the database holds the visit
with ``returned_at`` and the webhook event linked to it, and the admin's activity page
counts one visit that ended in a cancellation. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, RunningDemo
from tests.browser.layout import LayoutWatch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_SCREENSHOT = ROOT / "docs" / "img" / "activity.png"


def _log_in(
    page: Any, layout: LayoutWatch, demo: RunningDemo, username: str, password: str
) -> None:
    page.goto(f"{demo.url}/accounts/login/")
    layout.measure(page, "log-in page")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{demo.url}/account/")
    layout.measure(page, f"account page of {username}")


def _rows(database: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, params).fetchall()


def test_cancel_in_the_portal_and_come_back(
    demo: RunningDemo, browser: Any, artifacts: Path, layout: LayoutWatch
) -> None:
    from playwright.sync_api import expect

    customer = browser.new_context(viewport={"width": 1000, "height": 800})
    page = layout.watch(customer.new_page())
    page.set_default_timeout(20_000)

    _log_in(page, layout, demo, "demo", "demo-password")
    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator(".plan-name")).to_have_text("Basic")
    expect(page.locator(".status")).to_have_text("active")
    expect(page.locator(".cancel-scheduled")).to_have_count(0)
    page.screenshot(path=artifacts / "01-account.png", full_page=True)
    layout.measure(page, "01-account.png")

    page.get_by_role("button", name="Manage billing").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/p/session/"))
    assert not page.url.startswith(demo.url), "the portal is the stand-in, not the site"
    page.screenshot(path=artifacts / "02-portal.png", full_page=True)
    layout.measure(page, "02-portal.png")

    page.select_option("#reason", "too_expensive")
    page.fill("#comment", "Too pricey for a side project")
    page.get_by_role("button", name="Cancel plan").click()

    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator(".cancel-scheduled")).to_be_visible()
    expect(page.locator(".cancel-reason")).to_have_text("too expensive")
    expect(page.locator("#visits tr")).to_have_count(2)  # header + the one visit
    page.screenshot(path=artifacts / "03-account-after-cancel.png", full_page=True)
    layout.measure(page, "03-account-after-cancel.png")
    customer.close()

    (visit,) = _rows(
        demo.database,
        "SELECT id, customer_id, returned_at, source FROM django_stripe_portal_portalsession",
    )
    assert visit["returned_at"] is not None
    assert visit["source"] == "app"
    linked = _rows(
        demo.database,
        "SELECT type, change_kind, status, payload FROM django_stripe_portal_webhookevent"
        " WHERE portal_session_id = ?",
        visit["id"],
    )
    assert [(row["type"], row["change_kind"], row["status"]) for row in linked] == [
        ("customer.subscription.updated", "cancel_scheduled", "processed")
    ]
    details = json.loads(linked[0]["payload"])["data"]["object"]["cancellation_details"]
    assert details["feedback"] == "too_expensive"
    (subscription,) = _rows(
        demo.database,
        "SELECT cancel_at_period_end, cancellation_details"
        " FROM django_stripe_portal_stripesubscription WHERE customer_id = ?",
        visit["customer_id"],
    )
    assert subscription["cancel_at_period_end"] == 1
    assert json.loads(subscription["cancellation_details"])["feedback"] == "too_expensive"

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    admin_page = layout.watch(staff.new_page())
    admin_page.set_default_timeout(20_000)
    _log_in(admin_page, layout, demo, "admin", "admin-password")
    admin_page.goto(f"{demo.url}/admin/django_stripe_portal/portalsession/activity/")
    summary = admin_page.locator("#activity-summary")
    expect(summary.locator("div", has_text="Visits").first.locator("dd")).to_have_text("1")
    expect(summary.locator("div", has_text="Came back to the app").locator("dd")).to_have_text("1")
    outcome = admin_page.locator("#outcomes tbody tr", has_text="ancellation scheduled")
    expect(outcome.locator("td.number")).to_have_text("1")
    reason = admin_page.locator("#cancellation-reasons tbody tr", has_text="Too expensive")
    expect(reason.locator("td.number")).to_have_text("1")
    admin_page.screenshot(path=artifacts / "04-activity.png", full_page=True)
    layout.measure(admin_page, "04-activity.png")

    # The same page over a week, for docs/img/activity.png (UPDATE_DOCS_SCREENSHOTS=1).
    today = dt.datetime.now(tz=dt.UTC).date()
    week = f"start={today - dt.timedelta(days=6)}&end={today}"
    admin_page.goto(f"{demo.url}/admin/django_stripe_portal/portalsession/activity/?{week}")
    expect(admin_page.locator("#visits-per-day tbody tr")).to_have_count(7)
    admin_page.screenshot(path=artifacts / "05-activity-week.png", full_page=True)
    layout.measure(admin_page, "05-activity-week.png")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts / "05-activity-week.png", DOCS_SCREENSHOT)
    staff.close()


def test_sign_up_then_update_the_card(
    demo: RunningDemo, browser: Any, artifacts: Path, layout: LayoutWatch
) -> None:
    """A new user gets a Stripe customer at sign-up and can use the portal at once."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = layout.watch(context.new_page())
    page.set_default_timeout(20_000)
    page.goto(f"{demo.url}/accounts/signup/")
    layout.measure(page, "sign-up page")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password1", "a-long-passphrase-42")
    page.fill("#id_password2", "a-long-passphrase-42")
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.get_by_text("No current subscription")).to_be_visible()
    layout.measure(page, "account page of a new user")
    expect(page.locator("#access")).to_have_text("off")
    (link,) = _rows(
        demo.database,
        "SELECT c.customer_id FROM django_stripe_portal_stripecustomer c"
        " JOIN auth_user u ON u.id = c.user_id WHERE u.username = 'newcomer'",
    )
    customer_id = link["customer_id"]
    assert customer_id.startswith("cus_")

    page.get_by_role("button", name="Manage billing").click()
    expect(page.get_by_text("No current subscription.")).to_be_visible()
    layout.measure(page, "the stand-in portal, no subscription")
    page.fill("#card_number", "5555 5555 5555 4444")
    page.get_by_role("button", name="Update card").click()

    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator("#visits")).to_contain_text("payment method changed")
    page.screenshot(path=artifacts / "06-new-customer-card.png", full_page=True)
    layout.measure(page, "06-new-customer-card.png")
    context.close()
    kinds = _rows(
        demo.database,
        "SELECT e.type FROM django_stripe_portal_webhookevent e"
        " JOIN django_stripe_portal_portalsession s ON e.portal_session_id = s.id"
        " WHERE s.customer_id = ? ORDER BY e.type",
        customer_id,
    )
    assert [row["type"] for row in kinds] == ["customer.updated", "payment_method.attached"]


def test_a_merchants_customer_uses_the_portal_on_the_merchants_account(
    demo: RunningDemo, browser: Any, artifacts: Path, layout: LayoutWatch
) -> None:
    """Connect: the shopper's customer lives on the merchant's connected account; the
    session, its configuration and the webhooks all come from that account."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = layout.watch(context.new_page())
    page.set_default_timeout(20_000)
    _log_in(page, layout, demo, "shopper", "shopper-password")
    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator("#merchant")).to_contain_text("Ada's Bakery")
    expect(page.locator("#person")).to_have_text("Sam Baker")
    expect(page.locator(".plan-name")).to_have_text("Basic")
    expect(page.locator("#access")).to_have_text("on")

    page.get_by_role("button", name="Manage billing").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/p/session/"))
    page.screenshot(path=artifacts / "07-merchant-portal.png", full_page=True)
    layout.measure(page, "07-merchant-portal.png")
    page.select_option("#price", "price_demo_pro")
    page.get_by_role("button", name="Switch plan").click()  # then back through the return link

    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator(".plan-name")).to_have_text("Pro")
    page.screenshot(path=artifacts / "08-merchant-account-after-switch.png", full_page=True)
    layout.measure(page, "08-merchant-account-after-switch.png")
    context.close()

    merchant = "acct_1StandinBakery01"
    (visit,) = _rows(
        demo.database,
        "SELECT id, account, returned_at, configuration_id FROM django_stripe_portal_portalsession",
    )
    assert visit["account"] == merchant and visit["returned_at"] is not None
    (configuration,) = _rows(
        demo.database,
        "SELECT account FROM django_stripe_portal_portalconfiguration WHERE id = ?",
        visit["configuration_id"],
    )
    assert configuration["account"] == merchant  # the merchant's own synced configuration
    linked = _rows(
        demo.database,
        "SELECT type, account, change_kind FROM django_stripe_portal_webhookevent"
        " WHERE portal_session_id = ?",
        visit["id"],
    )
    assert [(row["type"], row["account"], row["change_kind"]) for row in linked] == [
        ("customer.subscription.updated", merchant, "plan_changed")
    ]
    accounts = _rows(
        demo.database,
        "SELECT s.account FROM django_stripe_portal_stripesubscription s"
        " JOIN django_stripe_portal_stripecustomer c ON c.customer_id = s.customer_id"
        " JOIN auth_user u ON u.id = c.user_id WHERE u.username = 'shopper'",
    )
    assert [row["account"] for row in accounts] == [merchant]


def test_accept_the_retention_offer(
    demo: RunningDemo, browser: Any, artifacts: Path, layout: LayoutWatch
) -> None:
    """ "Cancel plan" offers the demo's retention coupon; accepting it keeps the plan, and
    the account page and the activity page show the save."""
    from playwright.sync_api import expect

    customer = browser.new_context(viewport={"width": 1000, "height": 800})
    page = layout.watch(customer.new_page())
    page.set_default_timeout(20_000)
    _log_in(page, layout, demo, "demo", "demo-password")
    page.get_by_role("button", name="Cancel plan").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/p/session/"))
    expect(page.locator(".retention-offer")).to_contain_text("DEMO_STAY25")
    expect(page.locator("#reason option", has_text="Too hard to set up")).to_have_count(1)
    page.screenshot(path=artifacts / "07-retention-offer.png", full_page=True)
    layout.measure(page, "07-retention-offer.png")

    page.get_by_role("button", name="Accept the offer").click()

    expect(page).to_have_url(f"{demo.url}/account/")
    expect(page.locator(".cancel-scheduled")).to_have_count(0)
    visit_row = page.locator("#visits tr").nth(1)
    expect(visit_row.locator(".offer")).to_contain_text("DEMO_STAY25")
    expect(visit_row).to_contain_text("retention offer accepted")
    page.screenshot(path=artifacts / "08-account-after-offer.png", full_page=True)
    layout.measure(page, "08-account-after-offer.png")
    customer.close()

    (visit,) = _rows(
        demo.database,
        "SELECT id, retention_coupon, returned_at FROM django_stripe_portal_portalsession",
    )
    assert (visit["retention_coupon"], visit["returned_at"] is not None) == ("DEMO_STAY25", True)
    linked = _rows(
        demo.database,
        "SELECT type, change_kind FROM django_stripe_portal_webhookevent"
        " WHERE portal_session_id = ? AND change_kind != ''",
        visit["id"],
    )
    assert [(row["type"], row["change_kind"]) for row in linked] == [
        ("customer.discount.created", "retention_accepted")
    ]

    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    admin_page = layout.watch(staff.new_page())
    admin_page.set_default_timeout(20_000)
    _log_in(admin_page, layout, demo, "admin", "admin-password")
    admin_page.goto(f"{demo.url}/admin/django_stripe_portal/portalsession/activity/")
    offer = admin_page.locator("#retention-offers tbody tr", has_text="DEMO_STAY25")
    expect(offer.locator("td.number")).to_have_text(["1", "1", "100 %"])
    outcome = admin_page.locator("#outcomes tbody tr", has_text="etention offer accepted")
    expect(outcome.locator("td.number")).to_have_text("1")
    admin_page.screenshot(path=artifacts / "09-activity-retention.png", full_page=True)
    layout.measure(admin_page, "09-activity-retention.png")
    admin_page.goto(f"{demo.url}/admin/django_stripe_portal/portalsession/at-risk/")
    layout.measure(admin_page, "customers at risk")
    expect(admin_page.locator("#at-risk-count")).to_contain_text("0 customers at risk")
    staff.close()
