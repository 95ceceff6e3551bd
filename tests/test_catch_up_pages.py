"""Catch-up receives a page of events at once (one insert, one transaction, a savepoint
per event): each event is still stored once, written and dispatched in order, and one
that fails fails alone."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.webhooks import catch_up
from django_stripe_portal.webhooks.young_collections import YOUNG_COLLECTION_EVERY
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import Recorder, connected, fail_after_dispatching, post_signed

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
HOUR = 3600


def fetch(*args: str) -> str:
    out = StringIO()
    call_command("fetch_stripe_events", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _subscription_updates(
    fake: FakeStripeEvents, count: int, *, sub_id: str | None = None
) -> list[dict[str, Any]]:
    """``count`` undelivered updates, a second apart (of one subscription, or each its own),
    the quantity going 1, 2, 3 …"""
    start = int(time.time()) - HOUR
    return [
        fake.create(
            "customer.subscription.updated",
            so.subscription(id=sub_id, items=[("price_basic", step + 1)]),
            previous_attributes={"items": {"data": []}},
            created=start + step,
            delivered=False,
        )
        for step in range(count)
    ]


def _email_changes(fake: FakeStripeEvents, count: int) -> list[dict[str, Any]]:
    """``count`` undelivered ``customer.updated`` events (no state write), each of its own
    customer, a second apart."""
    start = int(time.time()) - HOUR
    return [
        fake.create(
            "customer.updated",
            so.customer(id=so.unique_id("cus"), email="new@example.com"),
            previous_attributes={"email": "old@example.com"},
            created=start + step,
            delivered=False,
        )
        for step in range(count)
    ]


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["id"] for event in events]


def _fetch_with_a_delivery_after_the_listing(
    monkeypatch: pytest.MonkeyPatch, deliver: Callable[[], None]
) -> tuple[str, Recorder]:
    """Catch-up's output and the receiver's calls, Stripe's retry (``deliver``) getting
    through after the listing, before the page is received."""
    listing = catch_up._missing_events

    def delivered_after_the_listing(*args: Any, **kwargs: Any) -> Any:
        missing = listing(*args, **kwargs)
        deliver()
        return missing

    monkeypatch.setattr(catch_up, "_missing_events", delivered_after_the_listing)
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        return fetch("--hours", "2"), recorder


def test_an_event_a_live_delivery_stored_meanwhile_is_not_dispatched_again(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = _subscription_updates(stripe_events, 6)
    live = listed[3]

    def deliver() -> None:
        assert post_signed(Client(), live).status_code == 200

    output, recorder = _fetch_with_a_delivery_after_the_listing(monkeypatch, deliver)

    assert "Listed 6 event(s): 5 new, 1 already stored, 0 failed." in output
    others = [event for event in listed if event is not live]
    assert [call["event"].stripe_id for call in recorder.calls] == _ids([live, *others])
    rows = {row.stripe_id: row for row in WebhookEvent.objects.all()}
    assert rows[live["id"]].received_via == "webhook"
    assert {rows[event["id"]].received_via for event in others} == {"events_api"}
    assert {row.status for row in rows.values()} == {Status.PROCESSED}


def test_an_event_a_live_delivery_left_failed_meanwhile_is_dispatched_once_more(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = _subscription_updates(stripe_events, 4)
    failed = listed[1]
    down = Recorder(raises=RuntimeError("receiver down"))

    def deliver() -> None:
        with connected(signals.webhook_received, down):
            assert post_signed(Client(), failed).status_code == 500

    output, recorder = _fetch_with_a_delivery_after_the_listing(monkeypatch, deliver)

    # Stored failed by the delivery, found by the page's insert: taken up under its lock.
    assert "Listed 4 event(s): 4 new, 0 already stored, 0 failed." in output
    # The delivery's attempt, then the page in order, the failed one taken up in its place.
    assert [call["event"].stripe_id for call in recorder.calls] == _ids([failed, *listed])
    assert len(down.calls) == 1
    statuses = dict(WebhookEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {event["id"]: Status.PROCESSED for event in listed}


def test_a_receiver_failing_mid_page_fails_that_event_only(
    stripe_events: FakeStripeEvents,
) -> None:
    listed = _subscription_updates(stripe_events, 5)
    bad = listed[2]["id"]
    seen: list[str] = []

    def fail_on_one(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        seen.append(event.stripe_id)
        if event.stripe_id == bad:
            raise RuntimeError("receiver down")

    err = StringIO()
    with connected(signals.webhook_received, fail_on_one):
        with pytest.raises(CommandError, match=r"1 event\(s\) failed"):
            call_command("fetch_stripe_events", "--hours", "2", stdout=StringIO(), stderr=err)

    assert seen == _ids(listed)  # in order, the failing one in its place
    rows = {row.stripe_id: row for row in WebhookEvent.objects.all()}
    assert [rows[event["id"]].status for event in listed] == [
        Status.PROCESSED,
        Status.PROCESSED,
        Status.FAILED,
        Status.PROCESSED,
        Status.PROCESSED,
    ]
    assert "receiver down" in rows[bad].last_error
    assert rows[bad].processed_at is None
    assert bad in err.getvalue()
    # As in a delivery, a receiver's failure leaves the event's state write in place.
    stored = set(StripeSubscription.objects.values_list("stripe_id", flat=True))
    assert stored == {event["data"]["object"]["id"] for event in listed}


def test_a_processing_failure_mid_page_rolls_back_that_events_work_only(
    stripe_events: FakeStripeEvents,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    listed = _subscription_updates(stripe_events, 5)
    bad = listed[2]
    fail_after_dispatching(monkeypatch, bad["id"])
    committed: list[str] = []

    def on_commit(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        transaction.on_commit(lambda: committed.append(event.stripe_id))

    with pytest.raises(CommandError, match=r"1 event\(s\) failed"):
        with (
            connected(signals.webhook_received, on_commit),
            django_capture_on_commit_callbacks(execute=True),
        ):
            call_command("fetch_stripe_events", "--hours", "2", stdout=StringIO())

    rows = {row.stripe_id: row for row in WebhookEvent.objects.all()}
    assert rows[bad["id"]].status == Status.FAILED
    assert rows[bad["id"]].last_error.startswith("processing → RuntimeError: lost the database")
    # Its subscription write and its receivers' on_commit work are undone; the others stay.
    stored = set(StripeSubscription.objects.values_list("stripe_id", flat=True))
    others = [event for event in listed if event is not bad]
    assert stored == {event["data"]["object"]["id"] for event in others}
    assert committed == _ids(others)
    assert {rows[event["id"]].status for event in others} == {Status.PROCESSED}


def test_a_receivers_database_work_is_undone_alone_in_an_event_without_a_state_write(
    stripe_events: FakeStripeEvents,
) -> None:
    listed = _email_changes(stripe_events, 4)
    bad = listed[1]["id"]
    calls: list[str] = []

    def writes(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        calls.append(event.stripe_id)
        User.objects.create(username=f"kept-{event.stripe_id}")

    def writes_then_fails(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        if event.stripe_id == bad:
            User.objects.create(username=f"undone-{event.stripe_id}")
            raise RuntimeError("receiver down")

    with connected(signals.webhook_received, writes_then_fails):
        with connected(signals.webhook_received, writes), pytest.raises(CommandError):
            fetch("--hours", "2")

    # The event's own savepoint opens with the first receiver's statement, before the
    # receiver's: rolling back the failing receiver leaves the event's work in place.
    users = set(User.objects.values_list("username", flat=True))
    assert users == {f"kept-{event['id']}" for event in listed}
    assert calls == _ids(listed)  # each once: the page was not rolled back and received again
    rows = {row.stripe_id: row for row in WebhookEvent.objects.all()}
    assert rows[bad].status == Status.FAILED
    assert "receiver down" in rows[bad].last_error
    assert {rows[event["id"]].status for event in listed if event["id"] != bad} == {
        Status.PROCESSED
    }


def test_one_subscriptions_events_in_one_page_are_written_and_dispatched_in_order(
    stripe_events: FakeStripeEvents,
) -> None:
    sub_id = so.unique_id("sub")
    listed = _subscription_updates(stripe_events, 8, sub_id=sub_id)
    seen: list[tuple[int, int]] = []

    def stored_quantity(sender: Any, event: WebhookEvent, subscription: Any, **kwargs: Any) -> None:
        row = StripeSubscription.objects.get(stripe_id=sub_id)
        seen.append((subscription.items[0]["quantity"], row.items[0]["quantity"]))

    with connected(signals.subscription_quantity_changed, stored_quantity):
        fetch("--hours", "2")

    # Each receiver sees the row as its own event left it: written one event at a time.
    assert seen == [(quantity, quantity) for quantity in range(1, 9)]
    row = StripeSubscription.objects.get(stripe_id=sub_id)
    assert row.items[0]["quantity"] == 8
    assert row.event_created_at.timestamp() == listed[-1]["created"]


def test_a_change_links_to_a_visit_opened_earlier_in_the_same_page(
    stripe_events: FakeStripeEvents,
) -> None:
    start = int(time.time()) - HOUR
    customer = so.unique_id("cus")
    opened = so.portal_session(customer=customer)
    opened["created"] = start
    session = stripe_events.create(
        "billing_portal.session.created",
        opened,
        created=start,
        delivered=False,
    )
    change = stripe_events.create(
        "customer.subscription.updated",
        so.subscription(customer=customer, cancel_at_period_end=True),
        previous_attributes={"cancel_at_period_end": False},
        created=start + 30,
        delivered=False,
    )
    fetch("--hours", "2")

    visit = PortalSession.objects.get(stripe_id=session["data"]["object"]["id"])
    row = WebhookEvent.objects.get(stripe_id=change["id"])
    assert row.change_kind == "cancel_scheduled"
    assert row.portal_session_id == visit.pk


class Crash(BaseException):
    """The process dying mid-page (a deploy, the OOM killer), as an exception."""


@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_page_loses_nothing_and_doubles_nothing(
    stripe_events: FakeStripeEvents,
) -> None:
    listed = _email_changes(stripe_events, 150)
    crash_on = listed[120]["id"]  # in the second page
    committed: Counter[str] = Counter()

    def note_committed(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        stripe_id = event.stripe_id
        transaction.on_commit(lambda: committed.update([stripe_id]))

    def crash(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        if event.stripe_id == crash_on:
            raise Crash

    with connected(signals.webhook_received, note_committed):
        with connected(signals.customer_details_changed, crash), pytest.raises(Crash):
            fetch("--hours", "2")
        # The first page was committed; the second was rolled back whole.
        assert WebhookEvent.objects.count() == 100
        assert committed == Counter(_ids(listed[:100]))

        output = fetch("--hours", "2")
    assert "Listed 150 event(s): 50 new, 100 already stored, 0 failed." in output
    assert committed == Counter(_ids(listed))
    assert WebhookEvent.objects.filter(status=Status.PROCESSED).count() == 150


def test_a_run_collects_young_objects_less_often_and_puts_the_thresholds_back(
    stripe_events: FakeStripeEvents,
) -> None:
    import gc

    stripe_events.create(
        "customer.subscription.updated",
        so.subscription(quantity=2),
        previous_attributes={"quantity": 1},
        created=int(time.time()) - HOUR,
        delivered=False,
    )
    before = gc.get_threshold()
    during: list[tuple[int, ...]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        during.append(gc.get_threshold())

    with connected(signals.webhook_received, receiver):
        fetch("--hours", "2")

    assert during == [(YOUNG_COLLECTION_EVERY, *before[1:])]
    assert gc.get_threshold() == before
