"""Many subscriptions' conditional upserts (``PreparedSubscriptionWrite``) in one statement,
for catch-up's pages: one round trip where each write alone costs three (its savepoint,
the upsert, the release) and a fourth for a stale payload.

The writes must name distinct subscriptions: a statement cannot update one row twice, and
a later event of the same subscription must see the row its earlier one left (callers
write those one at a time). Each row keeps its own rule (``subscriptions``: not older,
not revived, same account); a stale payload's stored row is read after the statement,
one query for all of them.

A write is undone alone (:meth:`SubscriptionBatch.undo`) by putting back the row the
statement replaced, so the statement only ever replaces a row it read first: the rows are
read before it, locked (``FOR UPDATE``) on PostgreSQL, and its update branch is limited to
the rows that read found. A row that did not exist then is only inserted, never updated:
if a live delivery inserted it in between, the statement leaves it alone and that write
is not made (``run`` says None; the caller sends it in its event's turn, where a failure
rolls it back with the event's savepoint). So an undo deletes only a row the statement
itself inserted. SQLite needs no such limit: its transactions are serializable (a
transaction that read cannot write over a row another committed since; here the page's
transaction holds the write lock from its event insert on).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connections

from django_stripe_portal.models import StripeDiscount, StripeSubscription
from django_stripe_portal.state.row_writes import parameter_limit, qmark_text, run_statements
from django_stripe_portal.state.subscriptions import (
    PreparedSubscriptionWrite,
    SubscriptionAccountMismatch,
    SubscriptionWrite,
    _stored_sql,
)

_META = StripeSubscription._meta
_TABLE: str = _META.db_table
_COLUMNS: list[str] = [str(field.column) for field in _META.concrete_fields]


class SubscriptionBatch:
    """``writes`` (of distinct subscriptions, one database) sent by :meth:`run`."""

    def __init__(self, writes: Sequence[PreparedSubscriptionWrite]) -> None:
        ids = [write.row.stripe_id for write in writes]
        if len(set(ids)) != len(ids):
            raise ValueError("a subscription batch names one subscription twice")
        self.writes = list(writes)
        self.using = writes[0].statement.using if writes else ""
        self._before: dict[str, tuple[Any, ...]] = {}

    def run(self) -> list[SubscriptionWrite | SubscriptionAccountMismatch | None]:
        """Write every row; for each write (in order) what its ``run`` would have
        returned, or the mismatch it would have raised, or None: not written, a concurrent
        transaction inserted the row after the read (PostgreSQL; write it alone)."""
        if not self.writes:
            return []
        connection = connections[self.using]
        ids = [write.row.stripe_id for write in self.writes]
        quote = connection.ops.quote_name
        table = quote(_TABLE)
        key = quote("stripe_id")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        returned: dict[str, tuple[Any, ...]] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(quote(c) for c in _COLUMNS)} FROM {table} "  # noqa: S608
                f"WHERE {key} IN ({', '.join(['%s'] * len(ids))}){lock}",
                ids,
            )
            self._before = {row[1]: tuple(row) for row in cursor.fetchall()}
            # Serializable SQLite: nothing can appear between the read and the statement.
            read = list(self._before) if connection.vendor == "postgresql" else None
            statements = _statements(self.writes, connection, read)
            # SQLite's own ? text of each, put together from parts converted once.
            qmark = _qmark_parts(_parts(self.writes[0].statement.sql, connection.alias))
            qmark_texts = [
                qmark[0] + qmark[1] + qmark[2] if qmark and connection.vendor == "sqlite" else None
            ] * len(statements)
            for rows in run_statements(connection, statements, qmark_texts):
                returned.update((row[0], tuple(row[1:])) for row in rows)
        stale = [
            stripe_id
            for stripe_id in ids
            if stripe_id not in returned and (read is None or stripe_id in self._before)
        ]
        stored = _stored_rows(stale, self.using) if stale else {}
        results: list[SubscriptionWrite | SubscriptionAccountMismatch | None] = []
        for write in self.writes:
            row = write.row
            values = returned.get(row.stripe_id)
            if values is not None:
                row.pk, row._state.adding, row._state.db = values[0], False, self.using
                terms = values[1]
                if isinstance(terms, str):  # SQLite returns JSON as text
                    terms = json.loads(terms)
                results.append(SubscriptionWrite(row, True, terms or None))
                continue
            kept = stored.get(row.stripe_id)
            if kept is None:  # inserted by another transaction after the read: not written
                results.append(None)
                continue
            if kept.account != row.account:
                results.append(SubscriptionAccountMismatch(kept, row.account))
            else:
                results.append(SubscriptionWrite(kept, False))
        return results

    def undo(self, index: int) -> None:
        """Put the row of write ``index`` back as it was before :meth:`run` (a write that
        left the row as it was needs nothing): the row the read found, or none (the
        statement inserted it: nothing else can have written it, ``run``)."""
        write = self.writes[index]
        if write.row._state.adding:  # not written: the stored row was newer
            return
        connection = connections[self.using]
        quote = connection.ops.quote_name
        table = quote(_TABLE)
        before = self._before.get(write.row.stripe_id)
        with connection.cursor() as cursor:
            if before is None:
                cursor.execute(
                    f"DELETE FROM {table} WHERE {quote('stripe_id')} = %s",  # noqa: S608
                    [write.row.stripe_id],
                )
                return
            assignments = ", ".join(f"{quote(column)} = %s" for column in _COLUMNS[1:])
            cursor.execute(
                f"UPDATE {table} SET {assignments} WHERE {quote(_COLUMNS[0])} = %s",  # noqa: S608
                [*before[1:], before[0]],
            )


def _statements(
    writes: Sequence[PreparedSubscriptionWrite],
    connection: Any,
    read: list[str] | None,
) -> list[tuple[str, list[Any]]]:
    """The writes' rows in as few multi-row upserts as the parameter limit allows: each
    write's own compiled statement, its VALUES row repeated, returning the key, the pk and
    the customer's discount terms (a subquery on the written row's own columns). ``read``:
    the only keys the update branch may take (PostgreSQL: one array parameter).

    On SQLite each write is its own statement, of one text compiled once: there a
    statement costs no round trip, but compiling a new text costs more than running it."""
    head, row_sql, tail = _parts(writes[0].statement.sql, connection.alias)
    limit = parameter_limit(connection)
    most_rows = 1 if connection.vendor == "sqlite" else len(writes)
    if read is not None:
        returning_at = tail.index(" RETURNING ")
        quote = connection.ops.quote_name
        only_read = f" AND {quote(_TABLE)}.{quote('stripe_id')} = ANY(%s)"
        tail = tail[:returning_at] + only_read + tail[returning_at:]
        limit -= 1
    statements: list[tuple[str, list[Any]]] = []
    rows: list[str] = []
    params: list[Any] = []
    for write in writes:
        own = write.statement.params[:-2]  # less the discount subquery's two
        if rows and (len(params) + len(own) > limit or len(rows) == most_rows):
            statements.append((head + ", ".join(rows) + tail, params))
            rows, params = [], []
        rows.append(row_sql)
        params.extend(own)
    statements.append((head + ", ".join(rows) + tail, params))
    if read is not None:
        return [(sql, [*params, read]) for sql, params in statements]
    return statements


@cache
def _parts(single: str, using: str) -> tuple[str, str, str]:
    """(``INSERT … VALUES ``, one row's placeholders, ``ON CONFLICT … RETURNING …``) of a
    single write's SQL (one text per database: its values are all plain)."""
    quote = connections[using].ops.quote_name
    values_at = single.index(" VALUES ") + len(" VALUES ")
    conflict_at = single.index(" ON CONFLICT")
    returning_at = single.rindex(" RETURNING ")
    table = quote(_TABLE)
    discounts = quote(str(StripeDiscount._meta.db_table))
    terms = (
        f"(SELECT {quote('terms')} FROM {discounts} "  # noqa: S608
        f"WHERE {discounts}.{quote('customer_id')} = {table}.{quote('customer_id')} "
        f"AND {discounts}.{quote('account')} = {table}.{quote('account')} "
        f"AND {discounts}.{quote('subscription_id')} = '' AND NOT {discounts}.{quote('deleted')} "
        f"AND {discounts}.{quote('terms')} IS NOT NULL "
        f"ORDER BY {discounts}.{quote('event_created_at')} DESC LIMIT 1)"
    )
    returning = f" RETURNING {table}.{quote('stripe_id')}, {table}.{quote('id')}, {terms}"
    return (
        single[:values_at],
        single[values_at:conflict_at],
        single[conflict_at:returning_at] + returning,
    )


@cache
def _qmark_parts(parts: tuple[str, str, str]) -> tuple[str, str, str] | None:
    """:func:`_parts` in SQLite's ``?`` style, or None where that is not exact."""
    converted = [qmark_text(part) for part in parts]
    if any(part is None for part in converted):
        return None
    head, row_sql, tail = converted
    assert head is not None and row_sql is not None and tail is not None
    return head, row_sql, tail


def _stored_rows(ids: list[str], using: str) -> dict[str, StripeSubscription]:
    """The stored rows of ``ids``, one query (``subscriptions._stored_sql``'s, for many)."""
    sql = _stored_sql(using).replace("= %s", f"IN ({', '.join(['%s'] * len(ids))})")
    found = StripeSubscription.objects.using(using).raw(sql, ids)
    return {row.stripe_id: row for row in found}
