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

from typing import Any, cast

from django.db import DatabaseError, connections, router
from django.db.models import Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery, UpdateQuery

from django_stripe_portal.models import WebhookEvent

#: SQLSTATE of ``lock_not_available`` (``FOR UPDATE NOWAIT`` on a locked row).
_LOCK_NOT_AVAILABLE = "55P03"

DONE_STATUSES = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)


class EventBusy(Exception):
    """Another delivery, task or replay holds the event's lock right now."""


def insert_unless_exists(
    row: Model, returning: tuple[str, ...] = ("pk",)
) -> tuple[Any, ...] | None:
    """Insert ``row`` in one statement unless a unique constraint already holds its key.

    Returns the ``returning`` columns of the new row, or None on a conflict. Field values
    may be expressions (a ``Subquery``), evaluated by the database in the same statement.
    """
    model = type(row)
    meta = model._meta
    using = router.db_for_write(model)
    connection = connections[using]
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [row])
    compiler = query.get_compiler(using=using)
    ((sql, params),) = compiler.as_sql()
    columns = [meta.pk if name == "pk" else meta.get_field(name) for name in returning]
    sql += _returning_clause(connection, columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = cursor.fetchone()
    if values is None:
        return None
    if meta.pk in columns:
        row.pk = values[columns.index(meta.pk)]
        row._state.adding = False
        row._state.db = using
    return tuple(values)


def update_returning(
    queryset: QuerySet[Any], returning: tuple[str, ...] = ("pk",), **values: Any
) -> list[tuple[Any, ...]]:
    """``queryset.update(**values)`` that also returns columns of the updated rows
    (``UPDATE … RETURNING``), sparing a read-back query. For single-table filters only."""
    meta = queryset.model._meta
    connection = connections[queryset.db]
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    if not sql:
        return []
    columns = [meta.pk if name == "pk" else meta.get_field(name) for name in returning]
    sql += _returning_clause(connection, columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(found) for found in cursor.fetchall()]


def _returning_clause(connection: Any, columns: list[Any]) -> str:
    return " RETURNING " + ", ".join(connection.ops.quote_name(c.column) for c in columns)


def stored_status(stripe_id: str) -> str | None:
    """The status of the stored event, read without a lock (None: not stored)."""
    return WebhookEvent.objects.filter(stripe_id=stripe_id).values_list("status", flat=True).first()


def lock_stored_event(stripe_id: str, *, nowait: bool) -> WebhookEvent | None:
    """The stored row, locked until the surrounding transaction ends (None: not stored).

    With ``nowait`` a row another worker holds raises :class:`EventBusy` at once
    instead of waiting for that worker's dispatch to finish.
    """
    try:
        return (
            WebhookEvent.objects.select_for_update(nowait=nowait)
            .filter(stripe_id=stripe_id)
            .first()
        )
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
