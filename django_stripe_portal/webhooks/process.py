"""From a verified event to a stored, dispatched row: the path every delivery,
task and replay takes.

Sync mode runs insert → state writes → signals → commit in one transaction, so the
new row is the lock (see ``store``). Task mode stores the row ``pending`` and lets
a task take the row lock and dispatch.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from functools import cache
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.subscriptions import stripe_time
from django_stripe_portal.webhooks.dispatch import (
    ReceiverFailure,
    dispatch_event,
    is_handled,
    prepare_state_write,
)
from django_stripe_portal.webhooks.interpret import Interpretation, interpret_event
from django_stripe_portal.webhooks.linking import find_visit, visit_subquery
from django_stripe_portal.webhooks.store import (
    DONE_STATUSES,
    EventBusy,
    PreparedInsert,
    insert_unless_exists,
    lock_stored_event,
    stored_status,
)

logger = logging.getLogger("django_stripe_portal.webhooks")

Status = WebhookEvent.Status
UNFINISHED_STATUSES = (Status.PENDING, Status.FAILED)


class Outcome(enum.Enum):
    """What happened to one delivery; the view maps it to a status code."""

    PROCESSED = "processed"
    IGNORED = "ignored"
    #: Already processed (or ignored) before: nothing dispatched again.
    DUPLICATE = "duplicate"
    #: Stored ``pending``; a task dispatches it.
    ENQUEUED = "enqueued"
    #: A receiver or a state write raised; the row is ``failed``.
    FAILED = "failed"
    #: Another worker holds the event's lock right now.
    BUSY = "busy"
    #: No stored row by that id (replay of an unknown id).
    MISSING = "missing"


def receive_event(event: dict[str, Any], meaning: Interpretation) -> Outcome:
    """Store a verified, parsed event once and process it as ``WEBHOOK_PROCESSING`` says."""
    conf = get_settings()
    if conf.WEBHOOK_PROCESSING == "task":
        return _store_and_enqueue(_new_row(event, meaning, Status.PENDING, conf.VISIT_WINDOW))
    status = Status.PROCESSED if is_handled(event["type"]) else Status.IGNORED
    row = _new_row(event, meaning, status, conf.VISIT_WINDOW)
    return _store_and_dispatch(row, event, meaning)


def _new_row(
    event: dict[str, Any], meaning: Interpretation, status: str, window: int
) -> WebhookEvent:
    created_at = stripe_time(event["created"])
    assert created_at is not None
    row = WebhookEvent(
        stripe_id=event["id"],
        type=event["type"],
        livemode=event["livemode"],
        api_version=event.get("api_version") or "",
        account=event.get("account") or "",
        customer_id=meaning.customer_id,
        created_at=created_at,
        payload=event,
        status=status,
        attempts=0 if status == Status.PENDING else 1,
        processed_at=None if status == Status.PENDING else timezone.now(),
        change_kind=meaning.change_kind,
    )
    if meaning.change_kind and meaning.customer_id:
        # Looked up by the INSERT itself: one statement, one round trip.
        row.portal_session_id = visit_subquery(meaning.customer_id, created_at, window)
    return row


def _store_and_dispatch(
    row: WebhookEvent, event: dict[str, Any], meaning: Interpretation
) -> Outcome:
    """Insert and dispatch in one transaction; the insert is the row's outcome written
    ahead (nobody can see it before commit), corrected only when a receiver fails.

    Both statements are compiled before the transaction begins: on SQLite it holds
    the one write lock every other delivery waits for.
    """
    linked: int | None = None
    try:
        claim = PreparedInsert(row, returning=("pk", "portal_session"))
        try:
            state_write = prepare_state_write(row, event, meaning)
        except Exception:
            # Prepared again inside the transaction, after the claim, where a failure
            # is kept on the event row (and redeliveries find it) as before.
            state_write = None
        with transaction.atomic():
            inserted = claim.run()
            if inserted is not None:
                linked = row.portal_session_id = inserted[1]
                failures = dispatch_event(row, event, meaning, state_write)
                if failures:
                    _mark_failed(row, failures)
                    return Outcome.FAILED
                return Outcome(row.status)
    except Exception as exc:
        logger.exception("Processing Stripe event %s failed; stored as failed", row.stripe_id)
        return _store_failed_after_rollback(row, linked, exc)
    # Another delivery stored it first (and, PostgreSQL guarantees, has finished).
    status = stored_status(row.stripe_id)
    if status in DONE_STATUSES:
        return Outcome.DUPLICATE
    return process_stored_event(row.stripe_id, nowait=True)


def _mark_failed(row: WebhookEvent, failures: list[ReceiverFailure]) -> None:
    row.status = Status.FAILED
    row.last_error = "\n".join(str(failure) for failure in failures)
    row.processed_at = None
    WebhookEvent.objects.filter(pk=row.pk).update(
        status=row.status, last_error=row.last_error, processed_at=None
    )


def _store_failed_after_rollback(row: WebhookEvent, linked: int | None, exc: Exception) -> Outcome:
    """Keep the event although its transaction was rolled back (a state write raised)."""
    row.pk = None
    row._state.adding = True
    row.portal_session_id = linked
    row.status = Status.FAILED
    row.processed_at = None
    row.last_error = f"processing → {type(exc).__name__}: {exc}"[:2000]
    with transaction.atomic():
        insert_unless_exists(row)
    return Outcome.FAILED


def _store_and_enqueue(row: WebhookEvent) -> Outcome:
    inserted = insert_unless_exists(row)
    if inserted is None and stored_status(row.stripe_id) in DONE_STATUSES:
        return Outcome.DUPLICATE
    # New, or stored but never finished (pending/failed): hand it to a task (again).
    # The task takes the row lock, so a double enqueue never double-dispatches.
    try:
        _processing_task().enqueue(row.stripe_id)
    except Exception:
        logger.exception(
            "Could not enqueue Stripe event %s; it stays pending and Stripe's retry will "
            "enqueue it again (or run `manage.py replay_stripe_events --status pending`)",
            row.stripe_id,
        )
        return Outcome.FAILED
    return Outcome.ENQUEUED


@cache
def _processing_task() -> Any:
    from django_stripe_portal.tasks import process_webhook_event

    return process_webhook_event


def process_stored_event(
    stripe_id: str, *, nowait: bool, statuses: Collection[str] = UNFINISHED_STATUSES
) -> Outcome:
    """Dispatch a stored event under its row lock (redelivery, task, replay).

    Only a row whose status, read under the lock, is in ``statuses`` is dispatched:
    by default ``pending`` and ``failed``; a replay may name ``processed`` too. Others
    give :attr:`Outcome.DUPLICATE`. With ``nowait`` a row another worker holds gives
    :attr:`Outcome.BUSY` at once.
    """
    try:
        with transaction.atomic():
            row = lock_stored_event(stripe_id, nowait=nowait)
            if row is None:
                return Outcome.MISSING
            if row.status not in statuses:
                return Outcome.DUPLICATE
            return _dispatch_locked(row)
    except EventBusy:
        return Outcome.BUSY
    except Exception as exc:
        logger.exception("Processing Stripe event %s failed; stored as failed", stripe_id)
        WebhookEvent.objects.filter(stripe_id=stripe_id).update(
            status=Status.FAILED,
            attempts=F("attempts") + 1,
            processed_at=None,
            last_error=f"processing → {type(exc).__name__}: {exc}"[:2000],
        )
        return Outcome.FAILED


def _dispatch_locked(row: WebhookEvent) -> Outcome:
    event: dict[str, Any] = row.payload
    meaning = interpret_event(event)
    row.change_kind = meaning.change_kind
    row.customer_id = meaning.customer_id
    if meaning.change_kind and meaning.customer_id:
        row.portal_session = find_visit(
            meaning.customer_id, row.created_at, get_settings().VISIT_WINDOW
        )
    row.attempts += 1
    failures = dispatch_event(row, event, meaning)
    if failures:
        row.status = Status.FAILED
        row.last_error = "\n".join(str(failure) for failure in failures)
        row.processed_at = None
    else:
        row.status = Status.PROCESSED if is_handled(row.type) else Status.IGNORED
        row.last_error = ""
        row.processed_at = timezone.now()
    row.save(
        update_fields=[
            "change_kind",
            "customer_id",
            "portal_session",
            "attempts",
            "status",
            "last_error",
            "processed_at",
        ]
    )
    return Outcome(row.status)
