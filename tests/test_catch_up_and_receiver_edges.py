"""Edges of catch-up and of receivers' savepoints, each once a defect (found in review):
a host's garbage-collection choice kept, a tracer of Django's cursor still seeing
catch-up's statements, a failed event's session taken back as a savepoint would (no
delete signals), and a receiver's failed ORM write kept to its own savepoint."""

from __future__ import annotations

import gc
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.backends.utils import CursorWrapper
from django.db.models.signals import post_delete

from django_stripe_portal import signals
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.catch_up_events import undelivered_quantity_changes, undelivered_sessions
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import connected, fail_after_dispatching

pytestmark = pytest.mark.django_db


def fetch() -> None:
    call_command("fetch_stripe_events", "--hours", "2", stdout=StringIO(), stderr=StringIO())


# A host's threshold of 0 (automatic collection off) stays 0 during a run.
def test_a_run_keeps_automatic_collection_off_when_it_was_off(
    stripe_events: FakeStripeEvents,
) -> None:
    undelivered_quantity_changes(stripe_events, 1)
    before = gc.get_threshold()
    during: list[int] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        during.append(gc.get_threshold()[0])

    gc.set_threshold(0, *before[1:])  # "Setting threshold0 to zero disables collection"
    try:
        with connected(signals.webhook_received, receiver):
            fetch()
    finally:
        gc.set_threshold(*before)
    assert during == [0]


# A tracer that replaces CursorWrapper.execute (Sentry's Django integration does) still
# sees catch-up's statements: SQLite's own cursor is used only where it is Django's.
def test_statements_go_through_cursorwrapper_execute(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    undelivered_quantity_changes(stripe_events, 3)
    seen: list[str] = []
    real = CursorWrapper.execute

    def traced(self: Any, sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", traced)
    fetch()

    events = WebhookEvent._meta.db_table
    subscriptions = StripeSubscription._meta.db_table
    assert WebhookEvent.objects.count() == 3
    assert any(f'INTO "{events}"' in sql for sql in seen)
    assert any(f'INSERT INTO "{subscriptions}"' in sql for sql in seen)


def _middle_session_fails(
    fake: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[dict[str, Any]]]:
    """Three sessions in a page; the second event fails after its dispatch."""
    ids = [so.unique_id("bps") for _ in range(3)]
    listed = undelivered_sessions(fake, ids)
    fail_after_dispatching(monkeypatch, listed[1]["id"])
    return ids, listed


# A failed event's batched session is taken back as its savepoint would: no delete signals
# for a row nobody outside the page's transaction saw.
def test_a_failed_events_session_is_undone_without_delete_signals(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, _ = _middle_session_fails(stripe_events, monkeypatch)
    deleted: list[str] = []

    def on_delete(sender: Any, instance: PortalSession, **kwargs: Any) -> None:
        deleted.append(instance.stripe_id)

    post_delete.connect(on_delete, sender=PortalSession, weak=False)
    try:
        with pytest.raises(CommandError):
            fetch()
    finally:
        post_delete.disconnect(on_delete, sender=PortalSession)
    assert set(PortalSession.objects.values_list("stripe_id", flat=True)) == {ids[0], ids[2]}
    assert deleted == []


# So no delete receiver can make the page fall back and dispatch earlier events twice.
def test_a_raising_delete_receiver_does_not_dispatch_earlier_events_twice(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, listed = _middle_session_fails(stripe_events, monkeypatch)
    announced: list[str] = []

    def on_delete(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        announced.append(event.stripe_id)

    post_delete.connect(on_delete, sender=PortalSession, weak=False)
    try:
        with connected(signals.webhook_received, receiver):
            try:
                fetch()
            except CommandError:
                pass
    finally:
        post_delete.disconnect(on_delete, sender=PortalSession)
    assert announced.count(listed[0]["id"]) == 1


# A receiver whose ORM write fails (Model.save marks the transaction for rollback) fails
# alone: its savepoint is rolled back, the other receivers' work kept.
def _taken_name(sender: Any, **kwargs: Any) -> None:
    from django.contrib.auth.models import Group

    Group.objects.create(name="taken")  # IntegrityError: the name is unique


def test_an_orm_write_failing_in_one_receiver_is_that_receivers_failure_only(
    client: Any,
) -> None:
    from django.contrib.auth.models import Group

    from tests.webhook_support import post_signed

    Group.objects.create(name="taken")

    def writes(sender: Any, **kwargs: Any) -> None:
        Group.objects.create(name="written")

    event = so.event("customer.subscription.updated", so.subscription(), previous_attributes={})
    with (
        connected(signals.webhook_received, _taken_name),
        connected(signals.webhook_received, writes),
    ):
        assert post_signed(client, event).status_code == 500
    row = WebhookEvent.objects.get()
    assert "_taken_name" in row.last_error, row.last_error
    assert Group.objects.filter(name="written").exists()


def test_an_orm_write_failing_in_a_receiver_mid_page_dispatches_no_event_twice(
    stripe_events: FakeStripeEvents,
) -> None:
    from django.contrib.auth.models import Group

    Group.objects.create(name="taken")
    listed = undelivered_quantity_changes(stripe_events, 3)
    calls: list[str] = []

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        calls.append(event.stripe_id)
        if event.stripe_id == listed[1]["id"]:
            _taken_name(sender)

    with connected(signals.webhook_received, receiver):
        try:
            fetch()
        except CommandError:
            pass
    assert calls == [event["id"] for event in listed]
