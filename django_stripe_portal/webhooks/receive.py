"""A verified, parsed delivery: stored once, then processed as ``WEBHOOK_PROCESSING`` says.

Sync mode runs insert → state write → signals → commit in one transaction, so the
new row is the lock (see ``store``). Task mode stores the row ``pending`` and enqueues
a task that takes the row lock and dispatches: in the row's transaction when the task
is a row of the same database (django-tasks-db), else once the row has committed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.settled_weeks import forget_settled_after
from django_stripe_portal.state.row_writes import PreparedInsert, insert_unless_exists
from django_stripe_portal.storage.columns import event_column_values
from django_stripe_portal.webhooks.dispatch import dispatch_event, is_handled
from django_stripe_portal.webhooks.interpret import Interpretation
from django_stripe_portal.webhooks.linking import visit_subquery
from django_stripe_portal.webhooks.money import read_event_money
from django_stripe_portal.webhooks.payload import stripe_time
from django_stripe_portal.webhooks.process import (
    Outcome,
    error_text,
    failure_text,
    process_stored_event,
)
from django_stripe_portal.webhooks.state_writes import prepare_state_write
from django_stripe_portal.webhooks.store import DONE_STATUSES, stored_status
from django_stripe_portal.webhooks.tasks import enqueue_processing, enqueues_with_events

logger = logging.getLogger("django_stripe_portal.webhooks")

Status = WebhookEvent.Status


def receive_event(
    event: dict[str, Any],
    meaning: Interpretation,
    *,
    received_via: str = WebhookEvent.ReceivedVia.WEBHOOK,
) -> Outcome:
    """Store an accepted event once and process it as ``WEBHOOK_PROCESSING`` says.

    ``received_via`` records how it came: a delivery, or the Events API (catch-up).
    """
    conf = get_settings()
    if conf.WEBHOOK_PROCESSING == "task":
        row = new_event_row(event, meaning, Status.PENDING, conf.VISIT_WINDOW, received_via)
        return _store_and_enqueue(row, meaning)
    status = Status.PROCESSED if is_handled(event["type"]) else Status.IGNORED
    row = new_event_row(event, meaning, status, conf.VISIT_WINDOW, received_via)
    return _store_and_dispatch(row, event, meaning)


def new_event_row(
    event: dict[str, Any], meaning: Interpretation, status: str, window: int, received_via: str
) -> WebhookEvent:
    """The event's row, unsaved: its columns, money figures and (as a subquery of the
    insert) the portal visit it is linked to."""
    created_at = stripe_time(event["created"])
    assert created_at is not None
    change_kind = meaning.change_kind
    row = _event_row(
        {
            "stripe_id": event["id"],
            "type": event["type"],
            "livemode": event["livemode"],
            "api_version": event.get("api_version") or "",
            "account": event.get("account") or "",
            "customer_id": meaning.customer_id,
            "created_at": created_at,
            "payload": event,
            "status": status,
            "attempts": 0 if status == Status.PENDING else 1,
            "processed_at": None if status == Status.PENDING else timezone.now(),
            "change_kind": change_kind,
            "received_via": received_via,
            **event_column_values(event),
        }
    )
    money = read_event_money(row, event, meaning)
    meaning.known_discounts, meaning.run_rate = money.known, money.row_values
    if change_kind and meaning.customer_id:
        # Looked up by the INSERT itself: one statement, one round trip.
        row.portal_session_id = visit_subquery(
            meaning.customer_id, created_at, window, meaning.retention_coupon
        )
    return row


def _event_row(values: dict[str, Any]) -> WebhookEvent:
    """``WebhookEvent(**values)``, built as Django builds a row it reads (``Model.from_db``):
    every field by position, the others' defaults in their places. Django's keyword path
    costs as much as the rest of the row's making (catch-up builds thousands); the same
    instance, and ``pre_init``/``post_init`` are sent as for a row read."""
    return WebhookEvent(
        *[
            values[field.attname] if field.attname in values else field.get_default()
            for field in WebhookEvent._meta.concrete_fields
        ]
    )


def _event_insert(
    row: WebhookEvent, meaning: Interpretation, returning: tuple[str, ...]
) -> PreparedInsert:
    """The event row's INSERT; its payload as the JSON text the event was read from, where
    that text stands for it (``parse.json_text_of``): not encoded a second time."""
    return PreparedInsert(row, returning=returning, json_texts=payload_texts(meaning))


def _run_insert(insert: PreparedInsert, row: WebhookEvent) -> tuple[Any, ...] | None:
    """Send the event row's insert; a new row of an event days late (it is counted from
    now on) forgets the settled activity days it touches."""
    inserted = insert.run()
    if inserted is not None:
        forget_settled_after(row.created_at)
    return inserted


def payload_texts(meaning: Interpretation) -> dict[str, str]:
    """The ``json_texts`` of an event row's insert: its payload as the JSON text the event
    was read from, where that text stands for it (``parse.json_text_of``)."""
    return {"payload": meaning.payload_json} if meaning.payload_json is not None else {}


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
        claim = _event_insert(row, meaning, returning=("pk", "portal_session"))
        try:
            state_write = prepare_state_write(row, event, meaning)
            prepared = True
        except Exception:
            # Prepared again inside the transaction, after the claim, where a failure
            # is kept on the event row (and redeliveries find it) as before.
            state_write, prepared = None, False
        with transaction.atomic():
            inserted = _run_insert(claim, row)
            if inserted is not None:
                linked = row.portal_session_id = inserted[1]
                if not prepared:
                    state_write = prepare_state_write(row, event, meaning)
                written = state_write.run() if state_write is not None else None
                failures = dispatch_event(row, event, meaning, written)
                if failures:
                    row.status = Status.FAILED
                    row.last_error = failure_text(failures)
                    row.processed_at = None
                    WebhookEvent.objects.filter(pk=row.pk).update(
                        status=row.status, last_error=row.last_error, processed_at=None
                    )
                    return Outcome.FAILED
                return Outcome(row.status)
    except Exception as exc:
        return _store_failed_after_rollback(row, linked, exc)
    return stored_elsewhere(row.stripe_id)


def stored_elsewhere(stripe_id: str) -> Outcome:
    """The outcome of an event whose insert found it stored: another delivery stored it
    first (and, PostgreSQL guarantees, has finished). One it left unfinished (pending,
    failed) is dispatched here, under its row lock."""
    status = stored_status(stripe_id)
    if status in DONE_STATUSES:
        return Outcome.DUPLICATE
    return process_stored_event(stripe_id, nowait=True)


def _store_failed_after_rollback(row: WebhookEvent, linked: int | None, exc: Exception) -> Outcome:
    """Keep the event although its transaction was rolled back (a state write raised)."""
    row.pk = None
    row._state.adding = True
    row.portal_session_id = linked
    row.status = Status.FAILED
    row.processed_at = None
    row.last_error = error_text(exc)
    try:
        with transaction.atomic():
            if insert_unless_exists(row) is not None:
                forget_settled_after(row.created_at)
    except Exception:
        logger.exception(
            "Processing Stripe event %s failed and it could not be stored either; "
            "Stripe will deliver it again",
            row.stripe_id,
        )
        return Outcome.NOT_STORED
    logger.error(
        "Processing Stripe event %s failed; stored as failed",
        row.stripe_id,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return Outcome.FAILED


def _store_and_enqueue(row: WebhookEvent, meaning: Interpretation) -> Outcome:
    """Store the row ``pending`` and enqueue its task: in one transaction where the
    task is a row of the same database, else the insert autocommits and the enqueue
    follows (a crash between the two leaves the row for the recovery sweep)."""
    if enqueues_with_events():
        try:
            with transaction.atomic():
                return _insert_and_enqueue(row, meaning)
        except Exception:
            logger.exception(
                "Could not store Stripe event %s with its task; Stripe will deliver it again",
                row.stripe_id,
            )
            return Outcome.NOT_STORED
    return _insert_and_enqueue(row, meaning)


def _insert_and_enqueue(row: WebhookEvent, meaning: Interpretation) -> Outcome:
    inserted = _run_insert(_event_insert(row, meaning, returning=("pk",)), row)
    if inserted is None and stored_status(row.stripe_id) in DONE_STATUSES:
        return Outcome.DUPLICATE
    # New, or stored but never finished (pending/failed): hand it to a task (again).
    # The task takes the row lock, so a double enqueue never double-dispatches.
    if connection.in_atomic_block:
        enqueue_processing(row.stripe_id)  # an error rolls the row back with it
        return Outcome.ENQUEUED
    try:
        enqueue_processing(row.stripe_id)
    except Exception:
        logger.exception(
            "Could not enqueue Stripe event %s; it stays pending and Stripe's retry will "
            "enqueue it again (or run `manage.py recover_stripe_events`)",
            row.stripe_id,
        )
        return Outcome.NOT_ENQUEUED
    return Outcome.ENQUEUED
