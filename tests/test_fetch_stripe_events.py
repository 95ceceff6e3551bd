"""``manage.py fetch_stripe_events``: catch-up from Stripe's Events API after an outage.

Stripe is the stateful fake of ``GET /v1/events`` (tests/fake_stripe_events.py), which
checks every request against Stripe's spec; every listed event the app accepts is
checked against the schema too (the autouse guard of tests/conftest.py).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from io import StringIO
from typing import Any

import pytest
import requests
import responses
from django.core.management import CommandError, call_command
from django.dispatch import Signal
from django.test import Client, override_settings
from django.urls import reverse

from django_stripe_portal import signals
from django_stripe_portal.events import HANDLED_EVENTS
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.webhooks import catch_up
from tests import contract
from tests import stripe_objects as so
from tests.fake_stripe_events import URL, FakeStripeEvents
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
HOUR = 3600
#: Every signal of the app, by name, and a per-type one a host connected with on().
APP_SIGNALS = {name: value for name, value in vars(signals).items() if isinstance(value, Signal)}
HOST_TYPE = "customer.created"


class SignalLog:
    """Every signal sent while connected, in order, reduced to what a receiver reads."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, tuple[str, ...], str]] = []

    def receiver(self, name: str) -> Any:
        def record(sender: Any, event: WebhookEvent | None = None, **kwargs: Any) -> None:
            subscription = kwargs.get("subscription")
            self.entries.append(
                (
                    name,
                    event.stripe_id if event is not None else "",
                    event.type if event is not None else "",
                    tuple(sorted(kwargs)),
                    getattr(subscription, "status", ""),
                )
            )

        return record

    def without_ids(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        return [(name, kind, keys, status) for name, _, kind, keys, status in self.entries]

    def ids_of(self, name: str) -> list[str]:
        return [stripe_id for signal, stripe_id, *_ in self.entries if signal == name]


def _connect_all(stack: ExitStack, log: SignalLog) -> None:
    for name, signal in APP_SIGNALS.items():
        stack.enter_context(connected(signal, log.receiver(name)))
    stack.enter_context(connected(signals.event_signal(HOST_TYPE), log.receiver("on:" + HOST_TYPE)))


def _outage_story(customer: str) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """What one customer did while the site was down: every kind of event the app acts on,
    and one only a host receiver (``on()``) wants."""
    sub_id = so.unique_id("sub")
    return [
        (HOST_TYPE, so.customer(id=customer), None),
        ("customer.subscription.created", so.subscription(id=sub_id, customer=customer), None),
        (
            "billing_portal.session.created",
            so.portal_session(customer=customer, url="https://billing.stripe.com/p/session/x"),
            None,
        ),
        (
            "customer.subscription.updated",
            so.subscription(id=sub_id, customer=customer, cancel_at_period_end=True),
            {"cancel_at_period_end": False},
        ),
        ("payment_method.attached", so.payment_method(customer=customer), None),
        (
            "customer.updated",
            so.customer(id=customer, email="new@example.com"),
            {"email": "old@example.com"},
        ),
        (
            "customer.subscription.deleted",
            so.subscription(id=sub_id, customer=customer, status="canceled"),
            None,
        ),
    ]


def fetch(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("fetch_stripe_events", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def test_outage_is_caught_up_once_with_the_signals_a_delivery_gives(
    stripe_events: FakeStripeEvents,
) -> None:
    start = int(time.time()) - 40 * HOUR
    story = _outage_story("cus_outage")
    delivered_at_stripe = {0, 4}  # the first event and the card got through before it broke
    listed = [
        stripe_events.create(
            kind,
            obj,
            previous_attributes=previous,
            created=start + 600 * step,
            delivered=step in delivered_at_stripe,
        )
        for step, (kind, obj, previous) in enumerate(story)
    ]
    log = SignalLog()
    with ExitStack() as stack:
        _connect_all(stack, log)
        for step in sorted(delivered_at_stripe):
            assert post_signed(Client(), listed[step]).status_code == 200
        delivered_log = len(log.entries)

        output = fetch("--hours", "50")
        caught_up = log.entries[delivered_log:]

        # The same story of a twin customer, every event delivered: the signals to match.
        twin = SignalLog()
        twin_story = _outage_story("cus_twin")
        with ExitStack() as twin_stack:
            _connect_all(twin_stack, twin)
            for step, (kind, obj, previous) in enumerate(twin_story):
                if step not in delivered_at_stripe:
                    event = so.event(kind, obj, previous_attributes=previous)
                    assert post_signed(Client(), event).status_code == 200

    missing = [event["id"] for step, event in enumerate(listed) if step not in delivered_at_stripe]
    assert "Listed 7 event(s): 5 new, 2 already stored, 0 failed." in output
    # Each missing event received once, oldest first, with what a delivery dispatches.
    assert [entry[1] for entry in caught_up if entry[0] == "webhook_received"] == missing
    twin_entries = [entry for entry in twin.entries if entry[0] != "on:" + HOST_TYPE]
    assert SignalLog.without_ids(_log_of(caught_up)) == SignalLog.without_ids(_log_of(twin_entries))
    assert [entry[0] for entry in caught_up].count("on:" + HOST_TYPE) == 0  # delivered one
    rows = {row.stripe_id: row for row in WebhookEvent.objects.all()}
    assert {rows[i].received_via for i in missing} == {"events_api"}
    assert {rows[listed[i]["id"]].received_via for i in delivered_at_stripe} == {"webhook"}
    assert {rows[i].status for i in missing} == {Status.PROCESSED}
    # State written as a delivery writes it; the portal URL (a credential) not kept.
    sub = StripeSubscription.objects.get(stripe_id=story[1][1]["id"])
    assert sub.status == "canceled"
    session_event = rows[listed[2]["id"]]
    assert session_event.payload["data"]["object"]["url"] == "[redacted]"
    assert PortalSession.objects.filter(customer_id="cus_outage").count() == 1

    # Again: nothing new, nothing dispatched.
    with ExitStack() as stack:
        again = SignalLog()
        _connect_all(stack, again)
        second = fetch("--hours", "50")
    assert "Listed 7 event(s): 0 new, 7 already stored, 0 failed." in second
    assert again.entries == []


def _log_of(entries: list[Any]) -> SignalLog:
    log = SignalLog()
    log.entries = list(entries)
    return log


def test_host_type_connected_with_on_is_listed_and_dispatched(
    stripe_events: FakeStripeEvents,
) -> None:
    event = stripe_events.create(HOST_TYPE, so.customer(id="cus_host"), delivered=False)
    recorder = Recorder()
    with connected(signals.event_signal(HOST_TYPE), recorder):
        fetch("--hours", "1")
    assert [call["event"].stripe_id for call in recorder.calls] == [event["id"]]
    assert WebhookEvent.objects.get(stripe_id=event["id"]).status == Status.PROCESSED


def test_pages_past_several_pages_oldest_first(stripe_events: FakeStripeEvents) -> None:
    start = int(time.time()) - 5 * HOUR
    created = [
        stripe_events.create(
            "customer.subscription.updated",
            so.subscription(),
            previous_attributes={},
            created=start + step // 7,  # seven events a second: ties keep Stripe's order
            delivered=False,
        )
        for step in range(250)
    ]
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        output = fetch("--hours", "6")
    assert [call["event"].stripe_id for call in recorder.calls] == [e["id"] for e in created]
    assert "Listed 250 event(s): 250 new, 0 already stored, 0 failed." in output
    # The listing whose types include these events pages through them (past 20 handled
    # types a second listing, which finds none, is sent too).
    ours = [
        call for call in stripe_events.calls if "customer.subscription.updated" in call["types"]
    ]
    cursors = [call.get("starting_after") for call in ours]
    assert cursors == [None, created[150]["id"], created[50]["id"]]
    assert {call["limit"] for call in stripe_events.calls} == {100}
    assert {call["created"]["gte"] for call in stripe_events.calls} == {
        stripe_events.calls[0]["created"]["gte"]
    }


def _chunks(count: int) -> list[int]:
    """The sizes of the listings of ``count`` types: Stripe takes 20 ``types[]`` at most."""
    return [min(20, count - start) for start in range(0, count, 20)]


def test_lists_the_handled_types_and_splits_past_twenty(stripe_events: FakeStripeEvents) -> None:
    extra = [name for name in contract.event_types() if name not in HANDLED_EVENTS][:10]
    fetch("--hours", "1")
    handled_listings = [call["types"] for call in stripe_events.calls]
    assert [len(types) for types in handled_listings] == _chunks(len(HANDLED_EVENTS))
    assert sorted(name for types in handled_listings for name in types) == sorted(HANDLED_EVENTS)

    stripe_events.calls.clear()
    receivers = [Recorder() for _ in extra]
    with ExitStack() as stack:
        for name, receiver in zip(extra, receivers, strict=True):
            stack.enter_context(connected(signals.event_signal(name), receiver))
        fetch("--hours", "1")
    listed_types = [call["types"] for call in stripe_events.calls]
    assert [len(types) for types in listed_types] == _chunks(len(HANDLED_EVENTS) + 10)
    every = sorted(name for types in listed_types for name in types)
    assert every == sorted({*HANDLED_EVENTS, *extra})


def test_events_of_several_listings_are_merged_oldest_first(
    stripe_events: FakeStripeEvents,
) -> None:
    extra = [name for name in contract.event_types() if name not in HANDLED_EVENTS][:10]
    start = int(time.time()) - HOUR
    # A type of the second listing between two of the first.
    first = stripe_events.create(
        "customer.subscription.created", so.subscription(), created=start, delivered=False
    )
    second = stripe_events.create(HOST_TYPE, so.customer(id="cus_m"), created=start + 1)
    third = stripe_events.create(
        "customer.subscription.deleted", so.subscription(), created=start + 2
    )
    recorder = Recorder()
    with ExitStack() as stack:
        for name in [*extra, HOST_TYPE]:
            stack.enter_context(connected(signals.event_signal(name), Recorder()))
        stack.enter_context(connected(signals.webhook_received, recorder))
        fetch("--hours", "2")
    assert len(stripe_events.calls) == 2
    assert [c["event"].stripe_id for c in recorder.calls] == [
        first["id"],
        second["id"],
        third["id"],
    ]


def test_type_option_lists_only_those_types(stripe_events: FakeStripeEvents) -> None:
    fetch("--hours", "1", "--type", "customer.updated", "--type", "customer.updated")
    assert stripe_events.calls[0]["types"] == ["customer.updated"]
    fetch("--hours", "1", type="payment_method.attached")  # a string, as code passes it
    assert stripe_events.calls[1]["types"] == ["payment_method.attached"]
    with pytest.raises(CommandError, match="exact event names"):
        fetch("--type", "customer.*")


def test_undelivered_asks_for_delivery_success_false(stripe_events: FakeStripeEvents) -> None:
    stripe_events.create("customer.subscription.created", so.subscription(), delivered=True)
    missed = stripe_events.create(
        "customer.subscription.created", so.subscription(), delivered=False
    )
    output = fetch("--hours", "1", "--undelivered")
    listings = len(stripe_events.calls)
    assert all(call["delivery_success"] is False for call in stripe_events.calls)
    assert "Listed 1 event(s): 1 new" in output
    assert list(WebhookEvent.objects.values_list("stripe_id", flat=True)) == [missed["id"]]
    fetch("--hours", "1")
    assert all("delivery_success" not in call for call in stripe_events.calls[listings:])


def test_dry_run_lists_and_counts_without_storing(stripe_events: FakeStripeEvents) -> None:
    stored = stripe_events.create("customer.subscription.created", so.subscription())
    assert post_signed(Client(), stored).status_code == 200
    new = stripe_events.create("customer.subscription.updated", so.subscription(), delivered=False)
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        output = fetch("--hours", "1", "--dry-run")
    assert recorder.calls == []
    assert WebhookEvent.objects.count() == 1
    assert f"{new['id']} customer.subscription.updated" in output
    assert stored["id"] not in output
    assert "Listed 2 event(s): 1 not stored yet (would be received), 1 already stored." in output


def test_a_stored_failed_event_is_left_alone(stripe_events: FakeStripeEvents) -> None:
    event = stripe_events.create("customer.subscription.created", so.subscription())
    with connected(signals.webhook_received, Recorder(raises=RuntimeError("receiver down"))):
        assert post_signed(Client(), event).status_code == 500
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        output = fetch("--hours", "1")
    assert recorder.calls == []
    assert "0 new, 1 already stored, 0 failed" in output
    assert WebhookEvent.objects.get().status == Status.FAILED


def test_a_failing_receiver_is_reported_and_exits_1(stripe_events: FakeStripeEvents) -> None:
    bad = stripe_events.create("customer.subscription.created", so.subscription(), delivered=False)
    good = stripe_events.create("customer.updated", so.customer(id="cus_ok"), delivered=False)

    def fail_on_subscriptions(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        if event.type.startswith("customer.subscription"):
            raise RuntimeError("receiver down")

    out, err = StringIO(), StringIO()
    with connected(signals.webhook_received, fail_on_subscriptions):
        with pytest.raises(CommandError, match=r"1 event\(s\) failed.*replay_stripe_events"):
            call_command("fetch_stripe_events", "--hours", "1", stdout=out, stderr=err)
    assert "Listed 2 event(s): 1 new, 0 already stored, 1 failed." in out.getvalue()
    assert bad["id"] in err.getvalue()
    rows = dict(WebhookEvent.objects.values_list("stripe_id", "status"))
    assert rows == {bad["id"]: Status.FAILED, good["id"]: Status.PROCESSED}


@pytest.mark.off_contract
def test_an_event_of_the_other_mode_is_refused_not_stored(
    stripe_events: FakeStripeEvents,
) -> None:
    live = stripe_events.create("customer.updated", so.customer(), livemode=True)
    err = StringIO()
    with pytest.raises(CommandError, match=r"1 event\(s\) failed"):
        call_command("fetch_stripe_events", "--hours", "1", stdout=StringIO(), stderr=err)
    assert f"{live['id']} customer.updated: refused: live-mode event refused" in err.getvalue()
    assert not WebhookEvent.objects.exists()


def test_task_mode_enqueues_caught_up_events(
    stripe_events: FakeStripeEvents, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_PORTAL = {**settings.STRIPE_PORTAL, "WEBHOOK_PROCESSING": "task"}
    event = stripe_events.create(
        "customer.subscription.created", so.subscription(), delivered=False
    )
    recorder = Recorder()
    # The enqueue waits for the stored row's commit (here: the test's transaction).
    with (
        connected(signals.webhook_received, recorder),
        django_capture_on_commit_callbacks(execute=True),
    ):
        output = fetch("--hours", "1")  # the test settings' ImmediateBackend runs the task
    assert "1 new" in output
    assert [call["event"].stripe_id for call in recorder.calls] == [event["id"]]
    row = WebhookEvent.objects.get()
    assert (row.status, row.received_via) == (Status.PROCESSED, "events_api")


def test_stripe_refusal_is_one_line_with_the_request_id(stripe_events: FakeStripeEvents) -> None:
    stripe_events.errors.append(
        (400, {"error": {"type": "invalid_request_error", "message": "Invalid types[0]."}})
    )
    with pytest.raises(CommandError) as refused:
        fetch("--hours", "1")
    message = str(refused.value)
    assert message.startswith("Stripe refused the event list: Invalid types[0] (request id req_")
    assert "\n" not in message and "Nothing was stored" in message


def test_list_calls_are_retried_by_the_sdk(stripe_events: FakeStripeEvents) -> None:
    stripe_events.errors.append((500, {"error": {"type": "api_error", "message": "Oops."}}))
    event = stripe_events.create("customer.updated", so.customer(), delivered=False)
    output = fetch("--hours", "1")
    assert "1 new" in output
    assert WebhookEvent.objects.get().stripe_id == event["id"]


def test_network_failure_is_one_line(stripe_mock: responses.RequestsMock, settings: Any) -> None:
    settings.STRIPE_PORTAL = {**settings.STRIPE_PORTAL, "MAX_NETWORK_RETRIES": 0}
    stripe_mock.add(
        responses.GET, URL, body=requests.exceptions.ConnectionError("connection refused")
    )
    with pytest.raises(CommandError) as failed:
        fetch("--hours", "1")
    message = str(failed.value)
    assert message.startswith("Could not list the events: could not reach Stripe at ")
    assert "MAX_NETWORK_RETRIES']=0" in message and "support@stripe.com" not in message
    assert "HTTPSConnectionPool" not in message and "\n" not in message


@override_settings(TIME_ZONE="UTC")
def test_since_and_hours_exclude_each_other() -> None:
    with pytest.raises(CommandError, match="not both"):
        fetch(since="2026-01-01", hours=3)
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        fetch("--since", "yesterday")


def test_long_runs_print_progress_on_stderr(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catch_up, "PROGRESS_EVERY", 100)
    monkeypatch.setattr(catch_up, "PROGRESS_SECONDS", 3600)  # by count only, however slow
    for _ in range(230):
        stripe_events.create("customer.updated", so.customer(), delivered=False)
    err = StringIO()
    call_command("fetch_stripe_events", "--hours", "1", stdout=StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert "listed 100 event(s) so far, 100 of them not stored yet" in lines
    assert "listed 200 event(s) so far, 200 of them not stored yet" in lines
    assert "received 100 of 230 event(s): 100 new, 0 failed" in lines
    assert "received 200 of 230 event(s): 200 new, 0 failed" in lines


def test_the_admin_filters_events_by_how_they_came(
    stripe_events: FakeStripeEvents, admin_client: Client
) -> None:
    delivered = stripe_events.create("customer.updated", so.customer(id="cus_d"))
    assert post_signed(Client(), delivered).status_code == 200
    fetched = stripe_events.create("customer.updated", so.customer(id="cus_f"), delivered=False)
    fetch("--hours", "1")
    page = admin_client.get(
        reverse("admin:django_stripe_portal_webhookevent_changelist"),
        {"received_via__exact": "events_api"},
    )
    assert page.status_code == 200
    content = page.content.decode()
    assert fetched["id"] in content and delivered["id"] not in content
    assert "Events API catch-up" in content
