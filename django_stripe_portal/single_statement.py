"""Writes in one SQL statement where the ORM would spend several round trips.

Every statement the webhook and the redirect paths send is a round trip to the
database; under load each one waits for the database process to be scheduled, so
these helpers keep the hot paths to one statement per write.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery, UpdateQuery


def insert_unless_exists(
    row: Model, returning: tuple[str, ...] = ("pk",)
) -> tuple[Any, ...] | None:
    """Insert ``row`` in one statement unless a unique constraint already holds its key.

    Returns the ``returning`` columns of the new row, or None on a conflict. Field values
    may be expressions (a ``Subquery``), evaluated by the database in the same statement.
    """
    return _insert_returning(row, InsertQuery(type(row), on_conflict=OnConflict.IGNORE), returning)


def upsert(
    row: Model,
    *,
    unique_fields: list[str],
    update_fields: list[str],
    returning: tuple[str, ...] = ("pk",),
) -> tuple[Any, ...]:
    """``INSERT … ON CONFLICT (unique_fields) DO UPDATE SET update_fields … RETURNING``:
    one autocommitted statement where ``bulk_create(update_conflicts=True)`` spends three
    (it wraps its INSERT in a transaction)."""
    meta = type(row)._meta
    query = InsertQuery(
        type(row),
        on_conflict=OnConflict.UPDATE,
        update_fields=[meta.get_field(name) for name in update_fields],
        unique_fields=[meta.get_field(name) for name in unique_fields],
    )
    values = _insert_returning(row, query, returning)
    assert values is not None  # DO UPDATE always returns the row
    return values


def _insert_returning(
    row: Model, query: InsertQuery, returning: tuple[str, ...]
) -> tuple[Any, ...] | None:
    model = type(row)
    meta = model._meta
    using = router.db_for_write(model)
    connection = connections[using]
    fields = [field for field in meta.concrete_fields if not field.primary_key]
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
