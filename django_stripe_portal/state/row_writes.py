"""Row writes in one SQL statement (insert unless it exists, upsert, conditional upsert)
where the ORM would spend several round trips.

Every statement the webhook and the redirect paths send is a round trip to the
database; under load each one waits for the database process to be scheduled, so
these helpers keep the hot paths to one statement per write.

Compiling a statement (Django's ``as_sql``, JSON encoding of the values) costs more
than running it. :class:`PreparedInsert` therefore compiles when it is built and
runs later: a caller about to take a lock (SQLite's write lock, a row lock) builds
its statements first and holds the lock only while they run. And the SQL text of
an insert whose values are plain (or ``RawSQL`` subqueries of fixed text) is the same
every time, so it is compiled once per shape and only the parameters are made per row.

:func:`insert_new_rows` writes many rows with one statement and says which were new
(catch-up's pages of events), where ``bulk_create(ignore_conflicts=True)`` cannot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import NoneType
from typing import Any, NamedTuple

from django.db import connections, models, router
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery


class PreparedInsert:
    """One compiled ``INSERT … [ON CONFLICT …] RETURNING``, sent by :meth:`run`.

    ``update_fields`` and ``unique_fields`` make it an upsert; ``update_when`` is a SQL
    condition on the stored row (its table's name) and ``EXCLUDED``: where it is
    false the stored row is kept and :meth:`run` returns None, as on a conflict
    without an update. Field values may be expressions (a ``Subquery``), evaluated
    by the database in the same statement. ``extra_returning`` (SQL, params) adds one
    more value to what the statement returns, e.g. a scalar subquery on another table.
    """

    def __init__(
        self,
        row: Model,
        *,
        returning: tuple[str, ...] = ("pk",),
        unique_fields: Sequence[str] = (),
        update_fields: Sequence[str] = (),
        update_when: str = "",
        extra_returning: tuple[str, list[Any]] = ("", []),
    ) -> None:
        model = type(row)
        meta = model._meta
        self.row = row
        self.using = router.db_for_write(model)
        connection = connections[self.using]
        self.columns = [meta.pk if name == "pk" else meta.get_field(name) for name in returning]
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        shape: tuple[Any, ...] = (model, self.using, returning)
        shape += (tuple(unique_fields), tuple(update_fields), update_when, extra_returning[0])
        values = _row_values(fields, row, connection)
        if values is not None:
            shape += values.expressions
            if shape in _SQL_OF_PLAIN_INSERTS:
                self.sql = _SQL_OF_PLAIN_INSERTS[shape]
                self.params = [*values.params, *extra_returning[1]]
                return
        if update_fields:
            query = InsertQuery(
                model,
                on_conflict=OnConflict.UPDATE,
                update_fields=[meta.get_field(name) for name in update_fields],
                unique_fields=[meta.get_field(name) for name in unique_fields],
            )
        else:
            query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
        query.insert_values(fields, [row])
        ((sql, compiled_params),) = query.get_compiler(using=self.using).as_sql()
        if update_when:
            sql += f" WHERE {update_when}"
        self.sql = sql + _returning_clause(connection, self.columns)
        if extra_returning[0]:
            self.sql += ", " + extra_returning[0]
        self.params = [*compiled_params, *extra_returning[1]]
        if values is not None and len(_SQL_OF_PLAIN_INSERTS) < _MOST_SHAPES:
            _SQL_OF_PLAIN_INSERTS[shape] = self.sql

    def run(self) -> tuple[Any, ...] | None:
        """Send the statement: the ``returning`` columns, or None if no row was written."""
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params)
            values = cursor.fetchone()
        if values is None:
            return None
        meta = type(self.row)._meta
        if meta.pk in self.columns:
            self.row.pk = values[self.columns.index(meta.pk)]
            self.row._state.adding = False
            self.row._state.db = self.using
        return tuple(values)


#: SQL text of each shape of insert (model, database, conflict handling, RETURNING, the
#: SQL of its ``RawSQL`` values) whose values were plain or ``RawSQL``; a handful of
#: entries, fixed by the calling code (capped all the same).
_SQL_OF_PLAIN_INSERTS: dict[tuple[Any, ...], str] = {}
_MOST_SHAPES = 256


class _RowValues(NamedTuple):
    """What Django's insert compiler would make of one row, made without it."""

    #: Placeholder of each field (``%s``, or a ``RawSQL`` value's own SQL).
    placeholders: list[str]
    params: list[Any]
    #: (field position, SQL) of the ``RawSQL`` values: part of the statement's shape.
    expressions: tuple[tuple[int, str], ...]


#: Fields whose value of this exact Python type (or None: SQL NULL) the database takes as
#: it is: Django's ``get_db_prep_save`` would hand it over unchanged, through several calls.
_AS_IS: dict[type[Any], type[Any]] = {
    models.DateTimeField: NoneType,
    models.JSONField: NoneType,
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.ForeignKey: int,
}


def _row_values(fields: list[Any], row: Model, connection: Any) -> _RowValues | None:
    """The row's placeholders and parameters, in the compiler's order, or None when a
    value needs the compiler (an expression other than ``RawSQL``, a field with its own
    placeholder)."""
    placeholders: list[str] = []
    params: list[Any] = []
    expressions: list[tuple[int, str]] = []
    for position, field in enumerate(fields):
        value = field.pre_save(row, add=True)
        kind = _AS_IS.get(type(field))
        if kind is not None and (value is None or type(value) is kind):
            placeholders.append("%s")
            params.append(value)
            continue
        if type(value) is datetime and value.tzinfo and type(field) is models.DateTimeField:
            # An aware datetime: what DateTimeField's preparation leaves for the backend.
            placeholders.append("%s")
            params.append(connection.ops.adapt_datetimefield_value(value))
            continue
        if type(value) is RawSQL:
            sql = f"({value.sql})"
            placeholders.append(sql)
            params.extend(value.params)
            expressions.append((position, sql))
            continue
        if hasattr(value, "resolve_expression") or hasattr(field, "get_placeholder"):
            return None
        value = field.get_db_prep_save(value, connection=connection)
        if hasattr(value, "as_sql"):
            return None
        placeholders.append("%s")
        params.extend(connection.ops.modify_insert_params("%s", [value]))
    return _RowValues(placeholders, params, tuple(expressions))


def insert_new_rows(
    rows: Sequence[Model], *, key: str, returning: tuple[str, ...] = ("pk",)
) -> dict[Any, tuple[Any, ...]]:
    """Insert ``rows`` (of one model) with one ``INSERT … VALUES (…), (…) ON CONFLICT DO
    NOTHING RETURNING`` (more only past the database's limit of parameters), where
    ``bulk_create(ignore_conflicts=True)`` would not say which rows it wrote.

    Returns ``{key value: returning columns}`` of the rows inserted; a row whose unique
    ``key`` is stored already is left out. Each inserted row gets its pk. Values may be
    expressions (a ``RawSQL`` subquery), evaluated by the database per row.
    """
    if not rows:
        return {}
    model = type(rows[0])
    meta = model._meta
    using = router.db_for_write(model)
    connection = connections[using]
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    names = (key, "pk", *returning)
    columns = [meta.pk if name == "pk" else meta.get_field(name) for name in names]
    values = [_row_values(fields, row, connection) for row in rows]
    ops: Any = connection.ops
    head = (
        f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} {ops.quote_name(meta.db_table)} "
        f"({', '.join(ops.quote_name(field.column) for field in fields)}) "
    )
    tail = ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, [], [])
    returning_sql, _ = ops.return_insert_columns(columns)
    by_key = {getattr(row, key): row for row in rows}
    inserted: dict[Any, tuple[Any, ...]] = {}
    limit = _parameter_limit(connection)
    for chunk in _chunks(rows, values, limit):
        if any(row_values is None for _, row_values in chunk):
            # An expression only the compiler can write (rare): Django writes the statement.
            query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, [row for row, _ in chunk])
            compiler = query.get_compiler(using=using)
            compiler.returning_fields = columns
            ((sql, params),) = compiler.as_sql()
        else:
            rows_sql = ops.bulk_insert_sql(fields, [v.placeholders for _, v in chunk if v])
            sql = " ".join(part for part in (head + rows_sql, tail, returning_sql) if part)
            params = tuple(param for _, v in chunk if v for param in v.params)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        for found in returned:
            row = by_key[found[0]]
            row.pk, row._state.adding, row._state.db = found[1], False, using
            inserted[found[0]] = tuple(found[2:])
    return inserted


def _chunks(
    rows: Sequence[Model], values: list[_RowValues | None], limit: int
) -> Iterator[list[tuple[Model, _RowValues | None]]]:
    """Rows with their values, as many a statement as ``limit`` parameters allow."""
    chunk: list[tuple[Model, _RowValues | None]] = []
    count = 0
    for row, row_values in zip(rows, values, strict=True):
        # A row the compiler writes is counted generously (its expressions' parameters).
        size = 2 * len(row._meta.concrete_fields) if row_values is None else len(row_values.params)
        if chunk and count + size > limit:
            yield chunk
            chunk, count = [], 0
        chunk.append((row, row_values))
        count += size
    if chunk:
        yield chunk


def json_as_sent(text: str, using: str) -> RawSQL:
    """A JSON column's value given as its text (valid JSON: it was parsed), for
    :func:`insert_new_rows` to store without encoding the value again."""
    cast = "::jsonb" if connections[using].vendor == "postgresql" else ""
    return RawSQL(f"%s{cast}", [text])  # noqa: S611  (a bound parameter)


def _parameter_limit(connection: Any) -> int:
    """How many parameters one statement may carry: SQLite's own limit where the driver
    tells it (Django assumes 999, the limit of SQLite before 3.32), else Django's figure."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)
        if getlimit is not None:
            return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return int(connection.features.max_query_params or 65535)


def insert_unless_exists(
    row: Model, returning: tuple[str, ...] = ("pk",)
) -> tuple[Any, ...] | None:
    """Insert ``row`` in one statement unless a unique constraint already holds its key.

    Returns the ``returning`` columns of the new row, or None on a conflict.
    """
    return PreparedInsert(row, returning=returning).run()


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
    values = PreparedInsert(
        row, returning=returning, unique_fields=unique_fields, update_fields=update_fields
    ).run()
    assert values is not None  # an unconditional DO UPDATE always returns the row
    return values


def _returning_clause(connection: Any, columns: list[Any]) -> str:
    return " RETURNING " + ", ".join(connection.ops.quote_name(c.column) for c in columns)
