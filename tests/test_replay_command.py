"""``manage.py replay_stripe_events``."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.factories import WebhookEventFactory
from tests.webhook_support import Recorder, connected

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status


def _stored(
    status: str, event_type: str = "customer.subscription.updated", **kw: Any
) -> WebhookEvent:
    obj = so.subscription() if event_type.startswith("customer.subscription") else {"id": "x"}
    event = so.event(event_type, obj, previous_attributes={})
    return WebhookEventFactory(
        stripe_id=event["id"], type=event_type, payload=event, status=status, attempts=1, **kw
    )


def _replay(*args: str) -> str:
    out = StringIO()
    call_command("replay_stripe_events", *args, stdout=out)
    return out.getvalue()


def test_default_replays_failed_and_pending_only() -> None:
    failed, pending, done = (
        _stored(Status.FAILED),
        _stored(Status.PENDING),
        _stored(Status.PROCESSED),
    )
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        output = _replay()
    assert {c["event"].stripe_id for c in recorder.calls} == {failed.stripe_id, pending.stripe_id}
    for row in (failed, pending):
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == (Status.PROCESSED, 2, "")
    done.refresh_from_db()
    assert done.attempts == 1
    assert "Replayed 2 event(s): 2 processed." in output
    # The replay wrote the state the payload carries.
    assert StripeSubscription.objects.count() == 2


def test_status_processed_replays_processed_events() -> None:
    done = _stored(Status.PROCESSED)
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        _replay("--status", "processed")
    assert [c["event"].stripe_id for c in recorder.calls] == [done.stripe_id]


def test_type_since_and_id_filters() -> None:
    old = _stored(Status.FAILED, created_at=timezone.now() - dt.timedelta(days=10))
    recent = _stored(Status.FAILED)
    other_type = _stored(Status.FAILED, event_type="customer.updated")
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        since = (timezone.now() - dt.timedelta(days=2)).date().isoformat()
        _replay("--type", "customer.subscription.updated", "--since", since)
    assert [c["event"].stripe_id for c in recorder.calls] == [recent.stripe_id]
    with connected(signals.webhook_received, recorder):
        _replay("--id", old.stripe_id)
    assert recorder.calls[-1]["event"].stripe_id == old.stripe_id
    other_type.refresh_from_db()
    assert other_type.status == Status.FAILED


def test_id_replays_even_a_processed_event() -> None:
    done = _stored(Status.PROCESSED)
    assert f"{done.stripe_id} customer.subscription.updated: processed" in _replay(
        "--id", done.stripe_id
    )
    done.refresh_from_db()
    assert done.attempts == 2


def test_unknown_id_and_bad_date_are_clear_errors() -> None:
    with pytest.raises(CommandError, match="No stored event with id evt_nope"):
        _replay("--id", "evt_nope")
    with pytest.raises(CommandError, match="--since"):
        _replay("--since", "last tuesday")


def test_dry_run_dispatches_nothing() -> None:
    failed = _stored(Status.FAILED)
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        output = _replay("--dry-run")
    assert recorder.calls == []
    assert failed.stripe_id in output and "1 event(s) would be replayed." in output


def test_failing_again_is_recorded_and_exits_non_zero() -> None:
    failed = _stored(Status.FAILED)
    with connected(signals.webhook_received, Recorder(raises=RuntimeError("still down"))):
        with pytest.raises(CommandError, match="1 event"):
            _replay()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.FAILED, 2)
    assert "RuntimeError: still down" in failed.last_error
