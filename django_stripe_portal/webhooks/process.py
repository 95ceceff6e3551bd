"""Dispatching a stored event under its row lock: the path of every task, replay,
recovery and redelivery of an event that is not finished.

``Outcome`` names what happened to one delivery or attempt; the view maps it to a
status code.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.exceptions import EventBusy
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.settled_weeks import forget_settled_after
from django_stripe_portal.signals import webhook_gave_up
from django_stripe_portal.storage.columns import PAYLOAD_COLUMNS, set_payload_columns
from django_stripe_portal.storage.pruned import is_pruned
from django_stripe_portal.webhooks.dispatch import (
    MAX_ERROR_CHARS,
    ReceiverFailure,
    dispatch_event,
    is_handled,
)
from django_stripe_portal.webhooks.interpret import interpret_event
from django_stripe_portal.webhooks.linking import find_visit_id
from django_stripe_portal.webhooks.money import MONEY_FIELDS, read_event_money
from django_stripe_portal.webhooks.retries import is_due, plan_retry
from django_stripe_portal.webhooks.state_writes import prepare_state_write
from django_stripe_portal.webhooks.store import lock_stored_event

logger = logging.getLogger("django_stripe_portal.webhooks")

Status = WebhookEvent.Status
UNFINISHED_STATUSES = (Status.PENDING, Status.FAILED)


class Outcome(enum.Enum):
    """What happened to one delivery or attempt."""

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
    #: Processing failed and the event could not even be stored as failed.
    NOT_STORED = "not stored"
    #: Task mode: stored ``pending``, but the task could not be enqueued (the broker is
    #: down); no receiver ran, and the recovery sweep or a redelivery takes it up.
    NOT_ENQUEUED = "not enqueued"
    #: The stored payload was emptied by ``prune_stripe_events``: nothing to dispatch.
    PRUNED = "pruned"


#: What replay says of an event whose payload was pruned.
PRUNED_NOTE = (
    "A pruned event cannot be replayed: prune_stripe_events emptied its payload (its row, "
    "status and figures stay). Stripe keeps events for 30 days: fetch_stripe_events can "
    "read a recent one again; sync_subscriptions restores subscription rows."
)


def failure_text(failures: list[ReceiverFailure]) -> str:
    """What ``last_error`` keeps of the receivers that raised."""
    return "\n".join(str(failure) for failure in failures)[:MAX_ERROR_CHARS]


def error_text(exc: BaseException) -> str:
    """What ``last_error`` keeps of a state write or lookup that raised."""
    return f"processing → {type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def process_stored_event(
    stripe_id: str,
    *,
    nowait: bool,
    statuses: Collection[str] = UNFINISHED_STATUSES,
    only_due: bool = False,
) -> Outcome:
    """Dispatch a stored event under its row lock (redelivery, task, replay, recovery).

    Only a row whose status, read under the lock, is in ``statuses`` is dispatched:
    by default ``pending`` and ``failed``; a replay may name ``processed`` too. Others
    give :attr:`Outcome.DUPLICATE`. With ``only_due`` (tasks and the recovery sweep) a
    ``failed`` row is dispatched only once its ``next_attempt_at`` has come, so that a
    retry never runs ahead of its schedule and a row that gave up stays put. With
    ``nowait`` a row another worker holds gives :attr:`Outcome.BUSY` at once.
    """
    try:
        with transaction.atomic():
            try:
                row = lock_stored_event(stripe_id, nowait=nowait)
            except DatabaseError as exc:  # a lock timeout, a deadlock, SQLite "locked"
                raise EventBusy(stripe_id) from exc
            if row is None:
                return Outcome.MISSING
            if not _eligible(row, statuses, only_due):
                return Outcome.DUPLICATE
            if is_pruned(row.payload):
                return Outcome.PRUNED
            return _dispatch_locked(row)
    except EventBusy:
        return Outcome.BUSY
    except Exception as exc:
        with transaction.atomic():
            row = lock_stored_event(stripe_id, nowait=False)
            # Read again under the lock: another worker may have finished (or rescheduled)
            # the event since this attempt's transaction was rolled back.
            if row is None or not _eligible(row, statuses, only_due):
                logger.warning(
                    "Processing Stripe event %s failed, but another attempt finished it "
                    "meanwhile: %s",
                    stripe_id,
                    error_text(exc),
                )
                return Outcome.DUPLICATE
            logger.exception("Processing Stripe event %s failed; stored as failed", stripe_id)
            row.attempts += 1
            _mark_failed(row, error_text(exc), ["the state write"])
            row.save(update_fields=_FAILURE_FIELDS)
        return Outcome.FAILED


def _eligible(row: WebhookEvent, statuses: Collection[str], only_due: bool) -> bool:
    """Whether this attempt may dispatch the locked row (see ``process_stored_event``)."""
    if row.status not in statuses:
        return False
    return not (
        only_due and row.status == Status.FAILED and not is_due(row.next_attempt_at, timezone.now())
    )


def _dispatch_locked(row: WebhookEvent) -> Outcome:
    event: dict[str, Any] = row.payload
    meaning = interpret_event(event)
    row.change_kind = meaning.change_kind
    row.customer_id = meaning.customer_id
    set_payload_columns(row, event)
    if meaning.change_kind and meaning.customer_id:
        row.portal_session_id = find_visit_id(
            meaning.customer_id,
            row.created_at,
            get_settings().VISIT_WINDOW,
            meaning.retention_coupon,
        )
    row.attempts += 1
    money = read_event_money(row, event, meaning)
    meaning.known_discounts, meaning.run_rate = money.known, money.row_values
    state_write = prepare_state_write(row, event, meaning)
    written = state_write.run() if state_write is not None else None
    failures = dispatch_event(row, event, meaning, written)
    if failures:
        _mark_failed(row, failure_text(failures), [failure.receiver for failure in failures])
    else:
        row.status = Status.PROCESSED if is_handled(row.type) else Status.IGNORED
        row.last_error = ""
        row.processed_at = timezone.now()
        row.next_attempt_at = row.gave_up_at = None
    row.save(
        update_fields=[
            "change_kind",
            "customer_id",
            "portal_session",
            *PAYLOAD_COLUMNS,
            *MONEY_FIELDS,
            *_FAILURE_FIELDS,
        ]
    )
    forget_settled_after(row.created_at)  # a retry or replay of an old event
    return Outcome(row.status)


_FAILURE_FIELDS = [
    "attempts",
    "status",
    "last_error",
    "processed_at",
    "next_attempt_at",
    "gave_up_at",
]


def _mark_failed(row: WebhookEvent, error: str, culprits: list[str]) -> None:
    """Record a failed attempt on the locked row (saved by the caller). In task mode the
    next attempt is scheduled, or the event gives up and a person is told."""
    now = timezone.now()
    row.status = Status.FAILED
    row.last_error = error
    row.processed_at = None
    if get_settings().WEBHOOK_PROCESSING != "task":
        row.next_attempt_at = None  # Stripe retries the 500 it got
        return
    plan = plan_retry(row.attempts, now)
    row.next_attempt_at = plan.next_attempt_at
    if not plan.gave_up:
        row.gave_up_at = None
    elif row.gave_up_at is None:
        # Giving up is announced once: a replay of an event that had given up and fails
        # again leaves it given up since then (a person is already on it); only a dispatch
        # that succeeded in between (which clears gave_up_at) makes the next one news.
        row.gave_up_at = now
        transaction.on_commit(lambda: _announce_gave_up(row, culprits))


def _announce_gave_up(row: WebhookEvent, culprits: list[str]) -> None:
    """The ERROR line a person is paged on, and ``webhook_gave_up``: once per giving up
    (the row lock lets one attempt only set ``gave_up_at``; see ``_mark_failed``)."""
    logger.error(
        "Stripe event %s (%s) gave up after %d attempts; failing: %s. Nothing will retry it: "
        "fix the cause, then run `manage.py replay_stripe_events --id %s`.",
        row.stripe_id,
        row.type,
        row.attempts,
        ", ".join(dict.fromkeys(culprits)) or "unknown",
        row.stripe_id,
    )
    data = (row.payload.get("data") or {}).get("object") or {}
    for receiver, result in webhook_gave_up.send_robust(
        sender=WebhookEvent, event=row, data=data, error=row.last_error
    ):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %s of webhook_gave_up failed for %s",
                getattr(receiver, "__qualname__", receiver),
                row.stripe_id,
                exc_info=result,
            )
