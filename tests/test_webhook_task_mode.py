"""``WEBHOOK_PROCESSING = "task"``: store and answer at once, a task dispatches."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.tasks import process_webhook_event
from django_stripe_portal.webhooks.recovery import recover_events
from tests import stripe_objects as so
from tests.webhook_support import SECRET, Recorder, connected, post_signed

# Autocommit, as the view runs in production: the enqueue happens once the row is committed.
pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookEvent.Status
TASK_MODE = {"API_KEY": "sk_test_x", "WEBHOOK_SECRETS": [SECRET], "WEBHOOK_PROCESSING": "task"}
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture
def task_mode() -> Iterator[None]:
    with override_settings(STRIPE_PORTAL=TASK_MODE):
        yield


def _event() -> dict[str, Any]:
    sub = so.subscription(cancel_at_period_end=True)
    return so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )


def test_event_is_stored_pending_and_answered_before_dispatch(
    client: Client, task_mode: None
) -> None:
    event = _event()
    recorder = Recorder()
    with override_settings(TASKS=DUMMY), connected(signals.webhook_received, recorder):
        response = post_signed(client, event)
        assert (response.status_code, response.content) == (200, b"enqueued")
        row = WebhookEvent.objects.get()
        assert (row.status, row.attempts, row.change_kind) == (
            Status.PENDING,
            0,
            "cancel_scheduled",
        )
        assert recorder.calls == []
        assert not StripeSubscription.objects.exists()

        assert process_webhook_event.call(event["id"]) == "processed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PROCESSED, 1)
    assert len(recorder.calls) == 1
    assert StripeSubscription.objects.get().cancel_at_period_end is True


def test_task_runs_through_the_configured_backend(client: Client, task_mode: None) -> None:
    event = _event()
    scheduled = Recorder()
    with (
        override_settings(TASKS=IMMEDIATE),
        connected(signals.subscription_cancel_scheduled, scheduled),
    ):
        assert post_signed(client, event).status_code == 200
    assert WebhookEvent.objects.get().status == Status.PROCESSED
    assert len(scheduled.calls) == 1


def test_receiver_failure_in_the_task_is_recorded(client: Client, task_mode: None) -> None:
    failing = Recorder(raises=ValueError("template missing"))
    with override_settings(TASKS=IMMEDIATE), connected(signals.webhook_received, failing):
        response = post_signed(client, _event())
    assert response.status_code == 200  # stored safely; the task's failure is on the row
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "ValueError: template missing" in row.last_error


def test_redelivery_of_a_pending_event_enqueues_again_but_dispatches_once(
    client: Client, task_mode: None
) -> None:
    event = _event()
    recorder = Recorder()
    with override_settings(TASKS=DUMMY), connected(signals.webhook_received, recorder):
        post_signed(client, event)
        assert post_signed(client, event).content == b"enqueued"
        assert process_webhook_event.call(event["id"]) == "processed"
        assert process_webhook_event.call(event["id"]) == "duplicate"
        assert post_signed(client, event).content == b"duplicate"
    assert len(recorder.calls) == 1
    assert WebhookEvent.objects.get().attempts == 1


def test_unknown_type_ends_ignored(client: Client, task_mode: None) -> None:
    with override_settings(TASKS=IMMEDIATE):
        post_signed(client, so.event("customer.created", so.customer(id="cus_unhandled")))
    assert WebhookEvent.objects.get().status == Status.IGNORED


def test_enqueue_failure_answers_503_and_keeps_the_row_pending(
    client: Client, task_mode: None
) -> None:
    broken = {"default": {"BACKEND": "tests.no_such_module.Backend"}}
    event = _event()
    with override_settings(TASKS=broken):
        response = post_signed(client, event)
    assert (response.status_code, response.content) == (503, NOT_ENQUEUED_ANSWER)
    assert WebhookEvent.objects.get().status == Status.PENDING
    with override_settings(TASKS=IMMEDIATE):  # Stripe's retry
        assert post_signed(client, event).status_code == 200
    assert WebhookEvent.objects.get().status == Status.PROCESSED


NOT_ENQUEUED_ANSWER = (
    b"the event is stored as pending but could not be queued (no receiver ran); "
    b"recover_stripe_events or this retry will process it"
)


def _closed_port() -> int:
    """A port nothing listens on: bound, then closed (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_with_the_broker_down_the_answer_says_the_row_is_pending(
    client: Client, task_mode: None
) -> None:
    """RQ on a Redis that refuses connections: the enqueue raises. The answer must not say
    a receiver failed (none ran); the row is pending and the recovery sweep runs it."""
    pytest.importorskip("django_tasks_rq")
    ran = Recorder()
    event = _event()
    rq_down = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
    queues = {"default": {"URL": f"redis://127.0.0.1:{_closed_port()}/0"}}
    with (
        override_settings(TASKS=rq_down, RQ_QUEUES=queues),
        connected(signals.webhook_received, ran),
    ):
        response = post_signed(client, event)
        assert (response.status_code, response.content) == (503, NOT_ENQUEUED_ANSWER)
        row = WebhookEvent.objects.get()
        assert (row.status, row.attempts, row.last_error) == (Status.PENDING, 0, "")
        assert ran.calls == []

        with override_settings(STRIPE_PORTAL={**TASK_MODE, "WEBHOOK_STUCK_AFTER": 0}):
            report = recover_events()
    assert report.stuck == [event["id"]]
    row.refresh_from_db()
    assert (row.status, len(ran.calls)) == (Status.PROCESSED, 1)
