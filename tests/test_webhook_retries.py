"""Task mode retries: a failure schedules the next attempt, with jitter; after the last
delay the event has given up (ERROR line, ``webhook_gave_up`` once, visible in figures).
A retry never repeats what already succeeded: the state write is idempotent and never
moves a subscription backwards."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.tasks import process_webhook_event
from django_stripe_portal.webhooks.health import webhook_health
from tests import stripe_objects as so
from tests.webhook_support import SECRET, Recorder, connected, post_signed

pytestmark = pytest.mark.django_db(transaction=True)

Status = WebhookEvent.Status
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def _task_mode(**extra: Any) -> Any:
    return override_settings(
        STRIPE_PORTAL={
            "API_KEY": "sk_test_x",
            "WEBHOOK_SECRETS": [SECRET],
            "WEBHOOK_PROCESSING": "task",
            **extra,
        }
    )


class FailsTimes:
    """A receiver that raises on its first ``times`` calls, then records its success."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.calls = 0
        self.succeeded: list[str] = []

    def __call__(self, sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise ConnectionError(f"mail server down (call {self.calls})")
        self.succeeded.append(event.stripe_id)


def _cancel_event(**overrides: Any) -> dict[str, Any]:
    sub = so.subscription(cancel_at_period_end=True, **overrides)
    return so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )


@pytest.fixture
def dummy_backend() -> Iterator[Any]:
    with override_settings(TASKS=DUMMY):
        backend = process_webhook_event.get_backend()
        backend.clear()
        yield backend


def test_a_failure_schedules_the_next_attempt_with_jitter_as_a_deferred_task(
    client: Client, dummy_backend: Any
) -> None:
    event = _cancel_event()
    failing = FailsTimes(1)
    with (
        _task_mode(WEBHOOK_RETRY_DELAYS=[3600, 7200]),
        connected(signals.webhook_received, failing),
    ):
        post_signed(client, event)
        before = timezone.now()
        assert process_webhook_event.call(event["id"]) == "failed"
        row = WebhookEvent.objects.get()
        assert row.status == Status.FAILED and row.attempts == 1
        assert row.next_attempt_at is not None
        delay = (row.next_attempt_at - before).total_seconds()
        assert 3600 - 1 <= delay <= 3600 * 1.1 + 1
        # The backend holds the retry for that time (it supports run_after).
        deferred = [r.task.run_after for r in dummy_backend.results if r.task.run_after]
        assert deferred == [row.next_attempt_at]
        # Not due yet: the task does not run ahead of its schedule.
        assert process_webhook_event.call(event["id"]) == "duplicate"
    assert failing.calls == 1


def test_jitter_spreads_events_that_failed_together(client: Client, dummy_backend: Any) -> None:
    always = Recorder(raises=ConnectionError("down"))
    events = [_cancel_event() for _ in range(8)]
    with _task_mode(WEBHOOK_RETRY_DELAYS=[600]), connected(signals.webhook_received, always):
        for event in events:
            post_signed(client, event)
            process_webhook_event.call(event["id"])
    times = set(WebhookEvent.objects.values_list("next_attempt_at", flat=True))
    assert len(times) == len(events)


def test_fails_twice_then_succeeds_on_the_third_attempt_with_its_effect_applied_once(
    client: Client, dummy_backend: Any
) -> None:
    event = _cancel_event()
    flaky = FailsTimes(2)
    scheduled = Recorder()
    with (
        _task_mode(WEBHOOK_RETRY_DELAYS=[0, 0, 0]),
        connected(signals.webhook_received, flaky),
        connected(signals.subscription_cancel_scheduled, scheduled),
    ):
        post_signed(client, event)
        outcomes = [process_webhook_event.call(event["id"]) for _ in range(4)]
    assert outcomes == ["failed", "failed", "processed", "duplicate"]
    row = WebhookEvent.objects.get()
    assert (row.status, row.attempts, row.next_attempt_at, row.gave_up_at) == (
        Status.PROCESSED,
        3,
        None,
        None,
    )
    assert row.last_error == ""
    assert flaky.succeeded == [event["id"]]
    # The state write ran on every attempt (a savepoint undid nothing of it) and left one row.
    assert StripeSubscription.objects.get().cancel_at_period_end is True
    assert StripeSubscription.objects.count() == 1


def test_always_failing_gives_up_once_with_an_error_line_and_the_signal(
    client: Client, dummy_backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = _cancel_event()
    always = Recorder(raises=ConnectionError("mail server down"))
    gave_up = Recorder()
    with (
        _task_mode(WEBHOOK_RETRY_DELAYS=[0, 0]),
        connected(signals.webhook_received, always),
        connected(signals.webhook_gave_up, gave_up),
        caplog.at_level(logging.ERROR, logger="django_stripe_portal.webhooks"),
    ):
        post_signed(client, event)
        outcomes = [process_webhook_event.call(event["id"]) for _ in range(5)]
        health = webhook_health()
    assert outcomes == ["failed", "failed", "failed", "duplicate", "duplicate"]
    assert len(always.calls) == 3  # the first attempt and two retries
    row = WebhookEvent.objects.get()
    assert row.status == Status.FAILED and row.next_attempt_at is None
    assert row.gave_up_at is not None and row.attempts == 3
    assert len(gave_up.calls) == 1
    call = gave_up.calls[0]
    assert call["event"].stripe_id == event["id"]
    assert "ConnectionError: mail server down" in call["error"]
    assert call["data"]["id"] == event["data"]["object"]["id"]
    [line] = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert line.levelno == logging.ERROR
    assert event["id"] in line.getMessage()
    assert "tests.webhook_support.Recorder" in line.getMessage()
    assert (health.given_up, health.awaiting_retry, health.needs_attention) == (1, 0, True)


def test_a_replayed_given_up_event_that_succeeds_is_no_longer_given_up(
    client: Client, dummy_backend: Any
) -> None:
    event = _cancel_event()
    flaky = FailsTimes(1)
    with _task_mode(WEBHOOK_RETRY_DELAYS=[]), connected(signals.webhook_received, flaky):
        post_signed(client, event)
        assert process_webhook_event.call(event["id"]) == "failed"
        assert WebhookEvent.objects.get().gave_up_at is not None
        call_command("replay_stripe_events", id=[event["id"]], stdout=None)
        assert webhook_health().given_up == 0
    row = WebhookEvent.objects.get()
    assert (row.status, row.gave_up_at) == (Status.PROCESSED, None)


def _replay(stripe_id: str, *statuses: str) -> None:
    """``replay_stripe_events --id``; a replay that fails again exits with an error."""
    try:
        call_command("replay_stripe_events", id=[stripe_id], status=list(statuses) or None)
    except CommandError:
        pass


def test_a_given_up_event_replayed_and_failing_again_is_not_announced_again(
    client: Client, dummy_backend: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22, item 5: a person replaying a given-up event is already on it; each failed
    replay used to send webhook_gave_up (and page) again. Giving up is announced when an
    event goes from "something will retry it" to "nothing will": once, and again only
    after a success in between made it fine (a new give-up)."""
    event = _cancel_event()
    always = Recorder(raises=ConnectionError("mail server down"))
    gave_up = Recorder()
    with (
        _task_mode(WEBHOOK_RETRY_DELAYS=[0]),
        connected(signals.webhook_gave_up, gave_up),
        caplog.at_level(logging.ERROR, logger="django_stripe_portal.webhooks"),
    ):
        with connected(signals.webhook_received, always):
            post_signed(client, event)
            assert [process_webhook_event.call(event["id"]) for _ in range(2)] == ["failed"] * 2
            first_gave_up_at = WebhookEvent.objects.get().gave_up_at
            assert first_gave_up_at is not None and len(gave_up.calls) == 1
            for _ in range(3):
                _replay(event["id"])
            row = WebhookEvent.objects.get()
            assert (row.status, row.attempts, row.gave_up_at) == (
                Status.FAILED,
                5,
                first_gave_up_at,
            )
            assert len(gave_up.calls) == 1
            assert webhook_health().given_up == 1

        _replay(event["id"])  # the cause fixed: it succeeds, and is fine
        row = WebhookEvent.objects.get()
        assert (row.status, row.gave_up_at) == (Status.PROCESSED, None)

        with connected(signals.webhook_received, always):  # broken again: a new give-up
            _replay(event["id"], Status.PROCESSED)
            row = WebhookEvent.objects.get()
            assert row.status == Status.FAILED and row.gave_up_at is not None
            assert row.gave_up_at > first_gave_up_at
            assert len(gave_up.calls) == 2
            _replay(event["id"])
            assert len(gave_up.calls) == 2
    lines = [r for r in caplog.records if "gave up after" in r.getMessage()]
    assert len(lines) == 2


def test_a_retried_older_event_never_moves_the_subscription_backwards(
    client: Client, dummy_backend: Any
) -> None:
    now = int(timezone.now().timestamp())
    sub = so.subscription(status="active")
    older = so.event(
        "customer.subscription.updated",
        {**sub, "cancel_at_period_end": True},
        previous_attributes={"cancel_at_period_end": False},
        created=now - 60,
    )
    newer = so.event("customer.subscription.updated", {**sub, "status": "past_due"}, created=now)
    flaky = FailsTimes(1)
    received: list[tuple[str, bool]] = []
    scheduled = Recorder()

    def note_stale(sender: Any, event: WebhookEvent, stale: bool, **kwargs: Any) -> None:
        received.append((event.stripe_id, stale))

    with (
        _task_mode(WEBHOOK_RETRY_DELAYS=[0]),
        connected(signals.webhook_received, flaky),
        connected(signals.webhook_received, note_stale),
        connected(signals.subscription_cancel_scheduled, scheduled),
    ):
        post_signed(client, older)
        post_signed(client, newer)
        assert process_webhook_event.call(older["id"]) == "failed"
        assert process_webhook_event.call(newer["id"]) == "processed"
        assert process_webhook_event.call(older["id"]) == "processed"
    stored = StripeSubscription.objects.get()
    assert stored.status == "past_due"  # the newer event's state stays
    assert stored.event_created_at == dt.datetime.fromtimestamp(now, tz=dt.UTC)
    # The retry told the generic receiver it was late, and sent no domain signal: the
    # cancellation it asked for is not what is true now. (The one call is the first
    # attempt's, in time then, whose dispatch was rolled back.)
    assert received[1:] == [(newer["id"], False), (older["id"], True)]
    assert [call["stale"] for call in scheduled.calls] == [False]


def test_sync_mode_failures_are_left_to_stripe(client: Client) -> None:
    failing = Recorder(raises=ValueError("boom"))
    with connected(signals.webhook_received, failing):
        response = post_signed(client, _cancel_event())
        assert response.status_code == 500, response.content
    row = WebhookEvent.objects.get()
    assert (row.status, row.next_attempt_at, row.gave_up_at) == (Status.FAILED, None, None)
    assert webhook_health().failed_awaiting_stripe == 1


def test_a_backend_that_cannot_defer_leaves_the_retry_to_the_sweep(client: Client) -> None:
    failing = FailsTimes(1)
    with (
        override_settings(TASKS=IMMEDIATE),
        _task_mode(WEBHOOK_RETRY_DELAYS=[0]),
        connected(signals.webhook_received, failing),
    ):
        assert post_signed(client, _cancel_event()).status_code == 200
        row = WebhookEvent.objects.get()
        assert row.status == Status.FAILED and row.next_attempt_at is not None
        call_command("recover_stripe_events", stdout=None)
    assert WebhookEvent.objects.get().status == Status.PROCESSED
    assert failing.calls == 2


def test_a_lock_that_cannot_be_taken_is_busy_never_a_failed_attempt(
    client: Client, dummy_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock timeout, a deadlock or SQLite's "database is locked" while taking the row:
    another attempt holds or just finished the event; this one must not mark it failed
    (and so schedule a second dispatch)."""
    from django.db import OperationalError

    from django_stripe_portal.webhooks import process

    event = _cancel_event()
    with _task_mode(WEBHOOK_RETRY_DELAYS=[0]):
        post_signed(client, event)
        assert process_webhook_event.call(event["id"]) == "processed"
        real_lock = process.lock_stored_event
        calls = []

        def locked_once(stripe_id: str, *, nowait: bool) -> Any:
            calls.append(stripe_id)
            if len(calls) == 1:
                raise OperationalError("database is locked")
            return real_lock(stripe_id, nowait=nowait)

        monkeypatch.setattr(process, "lock_stored_event", locked_once)
        outcome = process.process_stored_event(event["id"], nowait=False)
    assert outcome is process.Outcome.BUSY
    row = WebhookEvent.objects.get()
    assert (row.status, row.next_attempt_at, row.attempts) == (Status.PROCESSED, None, 1)


def test_a_failure_after_another_attempt_finished_the_event_leaves_it_finished(
    client: Client, dummy_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This attempt's state write raised; by the time it records the failure, another
    attempt has processed the event: the row stays processed, nothing is rescheduled."""
    from django_stripe_portal.webhooks import process

    event = _cancel_event()
    with _task_mode(WEBHOOK_RETRY_DELAYS=[0]):
        post_signed(client, event)
        real_lock = process.lock_stored_event
        calls = []

        def another_attempt_finished_in_between(stripe_id: str, *, nowait: bool) -> Any:
            calls.append(stripe_id)
            if len(calls) == 2:  # after this attempt's rollback, before it records a failure
                WebhookEvent.objects.filter(stripe_id=stripe_id).update(status=Status.PROCESSED)
            return real_lock(stripe_id, nowait=nowait)

        def state_write_fails(*args: Any, **kwargs: Any) -> None:
            raise ValueError("state write failed")

        monkeypatch.setattr(process, "lock_stored_event", another_attempt_finished_in_between)
        monkeypatch.setattr(process, "prepare_state_write", state_write_fails)
        outcome = process.process_stored_event(event["id"], nowait=False)
    assert outcome is process.Outcome.DUPLICATE
    row = WebhookEvent.objects.get()
    assert (row.status, row.next_attempt_at) == (Status.PROCESSED, None)
