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

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.exceptions import EventBusy
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.dispatch import ReceiverFailure, dispatch_event, is_handled
from django_stripe_portal.webhooks.interpret import interpret_event
from django_stripe_portal.webhooks.linking import find_visit
from django_stripe_portal.webhooks.state_writes import prepare_state_write
from django_stripe_portal.webhooks.store import lock_stored_event

logger = logging.getLogger("django_stripe_portal.webhooks")

Status = WebhookEvent.Status
UNFINISHED_STATUSES = (Status.PENDING, Status.FAILED)
_MAX_ERROR_CHARS = 2000


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


def failure_text(failures: list[ReceiverFailure]) -> str:
    """What ``last_error`` keeps of the receivers that raised."""
    return "\n".join(str(failure) for failure in failures)[:_MAX_ERROR_CHARS]


def error_text(exc: BaseException) -> str:
    """What ``last_error`` keeps of a state write or lookup that raised."""
    return f"processing → {type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]


def process_stored_event(
    stripe_id: str, *, nowait: bool, statuses: Collection[str] = UNFINISHED_STATUSES
) -> Outcome:
    """Dispatch a stored event under its row lock (redelivery, task, replay, recovery).

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
            last_error=error_text(exc),
        )
        return Outcome.FAILED


def _dispatch_locked(row: WebhookEvent) -> Outcome:
    event: dict[str, Any] = row.payload
    meaning = interpret_event(event)
    row.change_kind = meaning.change_kind
    row.customer_id = meaning.customer_id
    if meaning.change_kind and meaning.customer_id:
        row.portal_session = find_visit(
            meaning.customer_id,
            row.created_at,
            get_settings().VISIT_WINDOW,
            meaning.retention_coupon,
        )
    row.attempts += 1
    state_write = prepare_state_write(row, event, meaning)
    written = state_write.run() if state_write is not None else None
    failures = dispatch_event(row, event, meaning, written)
    if failures:
        row.status = Status.FAILED
        row.last_error = failure_text(failures)
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
