"""Row writes in one SQL statement (insert unless it exists, upsert, conditional upsert)
where the ORM would spend several round trips.

Every statement the webhook and the redirect paths send is a round trip to the
database; under load each one waits for the database process to be scheduled, so
these helpers keep the hot paths to one statement per write.

Compiling a statement (Django's ``as_sql``, JSON encoding of the values) costs more
than running it. :class:`PreparedInsert` therefore compiles when it is built and
runs later: a caller about to take a lock (SQLite's write lock, a row lock) builds
its statements first and holds the lock only while they run. And the SQL text of
an insert whose values are all plain (no expressions, or a ``RawSQL`` whose text the
calling code fixes) is the same every time, so it is compiled once per shape and only the
parameters are made per row.

:class:`PreparedNewRows` writes many rows with one statement and says which were new
(catch-up's pages of events), where ``bulk_create(ignore_conflicts=True)`` cannot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from django.db import connections, router
from django.db.backends.utils import CursorWrapper
from django.db.models import (
    Model,
)
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from django_stripe_portal.state.prepared_statements import statement_cursor
from django_stripe_portal.state.row_params import connection_plan, insert_plan, plain_params

_NO_TEXTS: Mapping[str, str] = MappingProxyType({})


class PreparedInsert:
    """One compiled ``INSERT … [ON CONFLICT …] RETURNING``, sent by :meth:`run`.

    ``update_fields`` and ``unique_fields`` make it an upsert; ``update_when`` is a SQL
    condition on the stored row (its table's name) and ``EXCLUDED``: where it is
    false the stored row is kept and :meth:`run` returns None, as on a conflict
    without an update. Field values may be expressions (a ``Subquery``), evaluated
    by the database in the same statement. ``extra_returning`` (SQL, params) adds one
    more value to what the statement returns, e.g. a scalar subquery on another table.
    ``json_texts`` names JSON fields whose value is already written as text (a request's
    own body): where the database parses what it stores (PostgreSQL's ``jsonb``) that text
    is sent as it is instead of encoding the value again.
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
        json_texts: Mapping[str, str] = _NO_TEXTS,
    ) -> None:
        model = type(row)
        meta = model._meta
        self.row = row
        self.using = router.db_for_write(model)
        connection = connections[self.using]
        self.columns = [meta.pk if name == "pk" else meta.get_field(name) for name in returning]
        fields, _ = insert_plan(model)
        plan = connection_plan(model, type(connection.ops))
        shape: tuple[Any, ...] = (model, self.using, returning)
        shape += (tuple(unique_fields), tuple(update_fields), update_when, extra_returning[0])
        if connection.vendor != "postgresql":
            json_texts = _NO_TEXTS
        plain = plain_params(plan, row, connection, json_texts)
        params: list[Any] | None = None
        as_text: tuple[int, ...] = ()
        if plain is not None:
            params, raw_texts, as_text = plain
            shape += raw_texts
            if shape in _SQL_OF_PLAIN_INSERTS:
                self.sql = _SQL_OF_PLAIN_INSERTS[shape]
                self.params = [*params, *extra_returning[1]]
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
        if params is not None:
            for index in as_text:  # the compiler encoded that value again: send its text
                self.params[index] = params[index]
            if len(_SQL_OF_PLAIN_INSERTS) < _MOST_SHAPES:
                _SQL_OF_PLAIN_INSERTS[shape] = self.sql

    def run(self) -> tuple[Any, ...] | None:
        """Send the statement: the ``returning`` columns, or None if no row was written.
        On PostgreSQL it may be sent prepared (``prepared_statements``)."""
        with statement_cursor(connections[self.using]) as cursor:
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
#: text of its ``RawSQL`` values) whose values were all plain; a handful of entries,
#: fixed by the calling code (capped all the same).
_SQL_OF_PLAIN_INSERTS: dict[tuple[Any, ...], str] = {}
_MOST_SHAPES = 256


class PreparedNewRows:
    """One ``INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING RETURNING`` of many ``rows``
    (of one model; more statements only past the database's limit of parameters), where
    ``bulk_create(ignore_conflicts=True)`` would not say which rows it wrote. Compiled
    when built, sent by :meth:`run` (as :class:`PreparedInsert`).

    Values may be expressions (a ``RawSQL`` subquery), evaluated by the database per row.
    Each row's values are made as :class:`PreparedInsert` makes them; ``json_texts``, when
    given, holds one mapping per row, as there. ``compact_texts``: those texts are the
    values' own compact ``json.dumps`` (catch-up wrote them), so a database that stores
    JSON as written (SQLite) may take them too.
    """

    def __init__(
        self,
        rows: Sequence[Model],
        *,
        key: str,
        returning: tuple[str, ...] = ("pk",),
        json_texts: Sequence[Mapping[str, str]] = (),
        compact_texts: bool = False,
    ) -> None:
        self.by_key = {getattr(row, key): row for row in rows}
        self.statements: list[tuple[str, Sequence[Any]]] = []
        self.using = router.db_for_write(type(rows[0])) if rows else ""
        if not rows:
            return
        model = type(rows[0])
        meta = model._meta
        connection = connections[self.using]
        fields, _ = insert_plan(model)
        plan = connection_plan(model, type(connection.ops))
        names = (key, "pk", *returning)
        columns = [meta.pk if name == "pk" else meta.get_field(name) for name in names]
        if not json_texts or (connection.vendor != "postgresql" and not compact_texts):
            json_texts = [_NO_TEXTS] * len(rows)
        values = [
            _row_values(model, plain_params(plan, row, connection, texts))
            for row, texts in zip(rows, json_texts, strict=True)
        ]
        ops: Any = connection.ops
        head = (
            f"{ops.insert_statement(on_conflict=OnConflict.IGNORE)} "
            f"{ops.quote_name(meta.db_table)} "
            f"({', '.join(ops.quote_name(field.column) for field in fields)}) "
        )
        tail = ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, [], [])
        # Django 6.0 renamed return_insert_columns to returning_columns (same arguments).
        returning_of = getattr(ops, "returning_columns", None) or ops.return_insert_columns
        returning_sql, _ = returning_of(columns)
        # SQLite runs in this process: a statement costs no round trip, but compiling one
        # (its text new to SQLite's statement cache) costs more than running it. So there
        # each row is its own statement, one text per shape of row, compiled once.
        most_rows = 1 if connection.vendor == "sqlite" else len(rows)
        for chunk in _chunks(rows, values, parameter_limit(connection), most_rows):
            if any(row_values is None for _, row_values in chunk):
                # An expression only the compiler can write (rare): Django writes it.
                query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
                query.insert_values(fields, [row for row, _ in chunk])
                compiler = query.get_compiler(using=self.using)
                compiler.returning_fields = columns
                self.statements.extend(compiler.as_sql())
            else:
                rows_sql = ops.bulk_insert_sql(fields, [v.placeholders for _, v in chunk if v])
                sql = " ".join(part for part in (head + rows_sql, tail, returning_sql) if part)
                self.statements.append((sql, [p for _, v in chunk if v for p in v.params]))
        #: Each statement's text in SQLite's own ``?`` style, or None (see :meth:`run`).
        self.qmark_texts = [
            qmark_text(sql) if connection.vendor == "sqlite" else None for sql, _ in self.statements
        ]

    def run(self) -> dict[Any, tuple[Any, ...]]:
        """Send the statements: ``{key value: returning columns}`` of the rows inserted (a
        row whose unique ``key`` is stored already is left out); each one gets its pk."""
        inserted: dict[Any, tuple[Any, ...]] = {}
        connection = connections[self.using]
        for returned in run_statements(connection, self.statements, self.qmark_texts):
            for found in returned:
                row = self.by_key[found[0]]
                row.pk, row._state.adding, row._state.db = found[1], False, self.using
                inserted[found[0]] = tuple(found[2:])
        return inserted


def run_statements(
    connection: Any,
    statements: Sequence[tuple[str, Sequence[Any]]],
    qmark_texts: Sequence[str | None],
) -> list[list[tuple[Any, ...]]]:
    """Send ``statements`` in order: each one's rows.

    SQLite's cursor rewrites ``%s`` to ``?`` with a regular expression on every execute,
    which costs more than a short statement's own run. Where nobody watches the
    statements (no execute wrapper, no query log), each ``?`` text (``qmark_texts``) goes
    to SQLite's own cursor, Django's error translation kept. Django's log (DEBUG,
    ``CaptureQueriesContext``) formats the parameters into the ``%s`` text, so it is sent
    as it is there; an execute wrapper, or a tracer that replaced Django's
    ``CursorWrapper.execute``, sees the ``?`` text through Django's cursor."""
    results: list[list[tuple[Any, ...]]] = []
    unwatched = (
        not connection.queries_logged
        and not connection.execute_wrappers
        and _cursor_execute_is_djangos()
    )
    texts = [qmark for qmark in qmark_texts if qmark is not None]
    with connection.cursor() as cursor:
        if unwatched and len(texts) == len(statements):
            connection.validate_no_broken_transaction()  # as Django's cursor does first
            own = cursor.cursor
            with connection.wrap_database_errors:
                for (_, params), text in zip(statements, texts, strict=True):
                    results.append(sqlite3.Cursor.execute(own, text, params).fetchall())
            return results
        for (sql, params), qmark in zip(statements, qmark_texts, strict=True):
            cursor.execute(sql if qmark is None or connection.queries_logged else qmark, params)
            results.append(cursor.fetchall())
    return results


def _cursor_execute_is_djangos() -> bool:
    """False where a tracer replaced ``CursorWrapper.execute`` (an APM integration such
    as Sentry's does): its statements then go through Django's cursor, to be seen."""
    execute = CursorWrapper.execute
    return (
        getattr(execute, "__module__", "") == "django.db.backends.utils"
        and getattr(execute, "__qualname__", "") == "CursorWrapper.execute"
    )


@lru_cache(maxsize=_MOST_SHAPES)
def qmark_text(sql: str) -> str | None:
    """``sql`` with its ``%s`` as ``?``, where SQLite's cursor leaves that text as it is
    and makes of ``sql`` the same: it holds no other ``%`` (an escaped ``%%`` would come
    back as a ``%`` to convert again). Else None. Send it only where Django does not log
    statements (``connection.queries_logged``): its log formats parameters into ``%s``."""
    qmark = sql.replace("%s", "?")
    return None if "%" in qmark else qmark


class _RowValues(NamedTuple):
    """One row of a multi-row INSERT: its parameters, and each field's placeholder."""

    params: list[Any]
    placeholders: tuple[str, ...]


def _row_values(
    model: type[Model], plain: tuple[list[Any], tuple[tuple[str, str], ...], tuple[int, ...]] | None
) -> _RowValues | None:
    """A row's :func:`plain_params` with its placeholders (None: the compiler's row)."""
    if plain is None:
        return None
    return _RowValues(plain[0], _placeholders(model, plain[1]))


@lru_cache(maxsize=_MOST_SHAPES)
def _placeholders(model: type[Model], raw_texts: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """Each field's placeholder in a row of ``model``: ``%s``, or a ``RawSQL`` value's
    text in parentheses (as the compiler writes it), once per shape."""
    texts = dict(raw_texts)
    fields, _ = insert_plan(model)
    return tuple(
        f"({texts[field.attname]})" if field.attname in texts else "%s" for field in fields
    )


def _chunks(
    rows: Sequence[Model], values: list[_RowValues | None], limit: int, most_rows: int
) -> Iterator[list[tuple[Model, _RowValues | None]]]:
    """Rows with their values, as many a statement as ``limit`` parameters allow (and
    ``most_rows``)."""
    chunk: list[tuple[Model, _RowValues | None]] = []
    count = 0
    for row, row_values in zip(rows, values, strict=True):
        # A row the compiler writes is counted generously (its expressions' parameters).
        size = 2 * len(row._meta.concrete_fields) if row_values is None else len(row_values.params)
        if chunk and (count + size > limit or len(chunk) == most_rows):
            yield chunk
            chunk, count = [], 0
        chunk.append((row, row_values))
        count += size
    if chunk:
        yield chunk


def parameter_limit(connection: Any) -> int:
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
