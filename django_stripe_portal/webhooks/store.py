"""Exactly-once storage: the database's unique index is the lock, never a Python one.

A new event is inserted with ``INSERT … ON CONFLICT DO NOTHING RETURNING`` inside
the transaction that dispatches it. Until that transaction ends, PostgreSQL makes
any concurrent insert of the same ``evt_…`` wait on the uncommitted row; when the
first delivery commits, the waiter sees a conflict and answers without dispatching;
when the first delivery's worker dies, its connection drops, the transaction is
rolled back at once and the waiter's insert goes through, so it processes the event.

Rows that already exist (``failed``, ``pending``) are taken with ``SELECT … FOR
UPDATE`` for the whole dispatch, so replays, tasks and redeliveries exclude each other
the same way.
"""

from __future__ import annotations

from django.db import DatabaseError

from django_stripe_portal.exceptions import EventBusy
from django_stripe_portal.models import WebhookEvent

#: SQLSTATE of ``lock_not_available`` (``FOR UPDATE NOWAIT`` on a locked row).
_LOCK_NOT_AVAILABLE = "55P03"

DONE_STATUSES = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)


def stored_status(stripe_id: str) -> str | None:
    """The status of the stored event, read without a lock (None: not stored)."""
    return WebhookEvent.objects.filter(stripe_id=stripe_id).values_list("status", flat=True).first()


def lock_stored_event(stripe_id: str, *, nowait: bool) -> WebhookEvent | None:
    """The stored row, locked until the surrounding transaction ends (None: not stored).

    With ``nowait`` a row another worker holds raises :class:`EventBusy` at once
    instead of waiting for that worker's dispatch to finish.
    """
    try:
        # ``stripe_id`` is unique: no ORDER BY (``first()`` would compile one each time).
        rows = WebhookEvent.objects.select_for_update(nowait=nowait).filter(stripe_id=stripe_id)
        return next(iter(rows[:1]), None)
    except DatabaseError as exc:
        if nowait and _is_lock_not_available(exc):
            raise EventBusy(stripe_id) from exc
        raise


def _is_lock_not_available(exc: DatabaseError) -> bool:
    cause = exc.__cause__
    return (
        getattr(cause, "sqlstate", None) == _LOCK_NOT_AVAILABLE
        or getattr(cause, "pgcode", None) == _LOCK_NOT_AVAILABLE
    )
