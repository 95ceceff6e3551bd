"""``fetch_stripe_events --account acct_… | --all-accounts``: catch-up for Connect platforms
(issue 22, item 7).

A platform's ``GET /v1/events`` never lists its connected accounts' events: each account
is listed with ``Stripe-Account``. The fake here (tests/fake_stripe_events.py) lists an
account's events only under its own header, so a run that forgot the header, or sent the
wrong one, finds nothing. Each account has its own window: its newest stored event minus
the overlap, whatever the platform's or another account's deliveries did meanwhile.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.state.accounts import is_deauthorized
from django_stripe_portal.webhooks.catch_up import SAFETY_OVERLAP
from tests import contract
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import Recorder, connected

pytestmark = pytest.mark.django_db

HOUR = 3600
A = "acct_1ConnectBakery"
B = "acct_1ConnectFlorist"
#: A type only a host's receiver (signals.on) asks for.
HOST = "customer.created"
SETTINGS: dict[str, Any] = {
    "API_KEY": "sk_test_tests",
    "WEBHOOK_SECRETS": ["whsec_tests"],
    "CONNECT_WEBHOOK_SECRETS": ["whsec_connect"],
    "CONNECTED_ACCOUNTS": "tests.test_fetch_connect_accounts.both_accounts",
}


def both_accounts() -> list[str]:
    return [A, B]


@pytest.fixture
def stripe_events(stripe_mock: responses.RequestsMock) -> Iterator[FakeStripeEvents]:
    fake = FakeStripeEvents(stripe_mock).install()
    with override_settings(STRIPE_PORTAL=SETTINGS):
        yield fake
    assert fake.refused == [], "requests Stripe would refuse"


def fetch(*args: str, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("fetch_stripe_events", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _store_delivered(event: dict[str, Any]) -> None:
    """An event that reached the site before the outage (as its delivery stored it)."""
    WebhookEvent.objects.create(
        stripe_id=event["id"],
        type=event["type"],
        livemode=False,
        account=event.get("account") or "",
        created_at=dt.datetime.fromtimestamp(event["created"], tz=dt.UTC),
        payload=event,
        status=WebhookEvent.Status.PROCESSED,
    )


def _gte_by_account(fake: FakeStripeEvents) -> dict[str, set[int]]:
    windows: dict[str, set[int]] = {}
    for account, query in zip(fake.accounts_asked, fake.calls, strict=True):
        windows.setdefault(account, set()).add(query["created"]["gte"])
    return windows


def _deauthorization(account: str, created: int) -> dict[str, Any]:
    application = {"id": "ca_platformapp01", "object": "application", "name": "The platform"}
    return so.event("account.application.deauthorized", application, created=created) | {
        "account": account
    }


def test_an_outage_across_the_platform_and_two_accounts_is_caught_up_per_account(
    stripe_events: FakeStripeEvents,
) -> None:
    now = int(time.time())
    # Before the outage: the last delivery each had (their windows start there, less 1 h).
    last = {"": now - 10 * HOUR, A: now - 5 * HOUR, B: now - 20 * HOUR}
    for account, created in last.items():
        _store_delivered(
            stripe_events.create(
                "customer.updated", so.customer(), created=created, account=account or None
            )
        )
    # During it: nothing delivered.
    platform_sub = so.subscription(id="sub_platform", customer="cus_platform")
    a_sub = so.subscription(id="sub_bakery", customer="cus_bakery", status="canceled")
    missed = [
        stripe_events.create(
            "customer.subscription.created", platform_sub, created=now - 3 * HOUR, delivered=False
        ),
        stripe_events.create(
            "customer.subscription.deleted",
            a_sub,
            created=now - 2 * HOUR,
            delivered=False,
            account=A,
        ),
        # B's: one older than the platform's and A's windows, and its deauthorization.
        stripe_events.create(
            "customer.subscription.created",
            so.subscription(id="sub_florist", customer="cus_florist"),
            created=now - 15 * HOUR,
            delivered=False,
            account=B,
        ),
    ]
    deauthorization = _deauthorization(B, now - HOUR)
    stripe_events.events.append(deauthorization)
    missed.append(deauthorization)

    canceled = Recorder()
    with connected(signals.subscription_canceled, canceled):
        platform_out, _ = fetch()
        accounts_out, _ = fetch("--all-accounts")

    # Every list call named the account it listed, and each account had its own window.
    assert set(stripe_events.accounts_asked) == {"", A, B}
    overlap = int(SAFETY_OVERLAP.total_seconds())
    assert _gte_by_account(stripe_events) == {
        account: {created - overlap} for account, created in last.items()
    }
    # Every missed event stored once, under its account, received from the Events API.
    rows = {row.stripe_id: row for row in WebhookEvent.objects.filter(received_via="events_api")}
    assert sorted(rows) == sorted(event["id"] for event in missed)
    assert {rows[event["id"]].account for event in missed} == {"", A, B}
    assert {row.status for row in rows.values()} == {WebhookEvent.Status.PROCESSED}
    # With the state and signals a delivery gives.
    assert StripeSubscription.objects.get(stripe_id="sub_bakery").account == A
    assert StripeSubscription.objects.get(stripe_id="sub_florist").account == B
    assert [call["subscription"].stripe_id for call in canceled.calls] == ["sub_bakery"]
    assert is_deauthorized(B) and not is_deauthorized(A)

    assert "Listed 2 event(s): 1 new, 1 already stored, 0 failed." in platform_out
    assert f"Listing test-mode Stripe events of {A} created since" in accounts_out
    assert f"Listing test-mode Stripe events of {B} created since" in accounts_out
    assert "2 of 2 account(s) done." in accounts_out

    # Again: everything is stored; nothing new anywhere.
    _, _ = fetch()
    again, _ = fetch("--account", A, "--account", B)
    assert again.count("0 new") == 2


def test_a_platform_run_sends_no_stripe_account_and_finds_no_account_events(
    stripe_events: FakeStripeEvents,
) -> None:
    stripe_events.create("customer.updated", so.customer(), delivered=False, account=A)
    out, _ = fetch("--hours", "1")
    assert set(stripe_events.accounts_asked) == {""}
    assert "Listed 0 event(s)" in out
    assert not WebhookEvent.objects.exists()


def test_the_connected_accounts_listing_includes_account_application_events(
    stripe_events: FakeStripeEvents,
) -> None:
    fetch("--account", A, "--hours", "1")
    fetch("--hours", "1")
    platform_types, account_types = (
        {
            name
            for account, query in zip(
                stripe_events.accounts_asked, stripe_events.calls, strict=True
            )
            if account == wanted
            for name in query["types"]
        }
        for wanted in ("", A)
    )
    assert "account.application.deauthorized" in account_types
    assert "account.application.deauthorized" not in platform_types
    assert platform_types < account_types


def test_an_event_listed_without_its_account_is_stored_under_the_account_listed(
    stripe_events: FakeStripeEvents,
) -> None:
    event = stripe_events.create(
        "customer.subscription.created",
        so.subscription(id="sub_noaccount", customer="cus_x"),
        delivered=False,
        account=A,
    )
    stripe_events.omit_account_field = True
    fetch("--account", A, "--hours", "1")
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.account, row.payload["account"]) == (A, A)
    assert StripeSubscription.objects.get(stripe_id="sub_noaccount").account == A


def test_one_account_without_access_does_not_stop_the_others(
    stripe_events: FakeStripeEvents,
) -> None:
    stripe_events.no_access.add(A)
    event = stripe_events.create(
        "customer.updated", so.customer(id="cus_florist"), delivered=False, account=B
    )
    with pytest.raises(CommandError) as error:
        fetch("--all-accounts", "--hours", "1")
    assert f"1 of 2 account(s) not done: {A}" in str(error.value)
    assert WebhookEvent.objects.get().stripe_id == event["id"]
    assert stripe_events.accounts_asked.count(B) >= 1


@pytest.mark.parametrize("given", [A, [A]])
def test_one_account_given_as_a_string_from_code(
    stripe_events: FakeStripeEvents, given: str | list[str]
) -> None:
    """``call_command(..., account="acct_…")``: the account, not its letters."""
    stripe_events.create("customer.updated", so.customer(), delivered=False, account=A)
    call_command("fetch_stripe_events", account=given, hours=1, stdout=StringIO())
    assert set(stripe_events.accounts_asked) == {A}
    assert WebhookEvent.objects.get().account == A


def test_the_lost_access_is_named(stripe_events: FakeStripeEvents) -> None:
    stripe_events.no_access.add(A)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("fetch_stripe_events", account=[A], hours=1, stdout=out, stderr=err)
    assert f"may have lost access to {A}" in err.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"account": ["cus_notanaccount"]}, "is not a connected account id"),
        ({"all_accounts": True, "CONNECTED_ACCOUNTS": None}, "needs STRIPE_PORTAL"),
    ],
)
def test_bad_account_options_send_nothing(
    stripe_events: FakeStripeEvents, options: dict[str, Any], message: str
) -> None:
    setting = options.pop("CONNECTED_ACCOUNTS", SETTINGS["CONNECTED_ACCOUNTS"])
    with (
        override_settings(STRIPE_PORTAL={**SETTINGS, "CONNECTED_ACCOUNTS": setting}),
        pytest.raises(CommandError, match=message),
    ):
        fetch(**options)
    assert stripe_events.accounts_asked == []


def test_an_empty_connected_accounts_lists_nothing(stripe_events: FakeStripeEvents) -> None:
    with override_settings(STRIPE_PORTAL={**SETTINGS, "CONNECTED_ACCOUNTS": lambda: []}):
        out, _ = fetch("--all-accounts")
    assert "No connected accounts to fetch" in out
    assert stripe_events.accounts_asked == []


@contract.requires_openapi
def test_same_second_events_of_an_account_are_ordered_through_its_own_listing(
    stripe_events: FakeStripeEvents,
) -> None:
    """More than 20 types are listed in two runs; the events of one second from both are
    put in Stripe's order by listing that second again, which for a connected account
    must carry its Stripe-Account too (the platform's listing of that second has none)."""
    first_listing = ["customer.subscription.created", "customer.subscription.deleted"]
    fillers = [name for name in contract.event_types() if name not in (*first_listing, HOST)]
    types = [*first_listing, *fillers[:18], HOST]
    second = int(time.time()) - 600
    sub = so.subscription()
    created = [
        stripe_events.create(kind, obj, id=event_id, created=second, account=A)
        for kind, obj, event_id in [
            ("customer.subscription.created", sub, "evt_1TieA"),
            (HOST, so.customer(id="cus_a"), "evt_0TieA"),
            ("customer.subscription.deleted", sub, "evt_1TieB"),
            (HOST, so.customer(id="cus_b"), "evt_0TieB"),
        ]
    ]
    recorder = Recorder()
    with (
        connected(signals.event_signal(HOST), Recorder()),
        connected(signals.webhook_received, recorder),
    ):
        fetch("--account", A, "--hours", "1", *[arg for name in types for arg in ("--type", name)])
    assert [call["event"].stripe_id for call in recorder.calls] == [e["id"] for e in created]
    assert stripe_events.accounts_asked == [A, A, A]
