"""A cursor whose statements PostgreSQL may keep prepared, for the few statements the hot
paths send on every request (``row_writes.PreparedInsert``).

Django's psycopg 3 backend binds values on the client by default, so each statement
reaches PostgreSQL as new text, parsed and planned again every time: most of the
server's work for a webhook's INSERT and upsert. psycopg prepares a statement once it
has run ``prepare_threshold`` times on a connection, but only on a server-side-binding
cursor, and Django sets that threshold to None (never) unless ``OPTIONS`` names one, so
that poolers in transaction mode keep working. This cursor binds on the server exactly
when the connection would prepare: with ``OPTIONS["prepare_threshold"]`` set, these
statements are prepared; without it (or on SQLite, or psycopg2) nothing changes.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


def statement_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """``connection.cursor()``, binding values on the server where the connection
    prepares statements.

    The cursor is Django's own (execute wrappers, the time zone, whatever wraps
    ``connection.cursor``); only the class psycopg makes it from is switched for the
    call. Where Django logs statements (``DEBUG``, ``CaptureQueriesContext``) they stay
    bound on the client: the log shows a statement's text as sent, which for a prepared
    one psycopg does not keep."""
    if connection.vendor != "postgresql" or connection.queries_logged:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if getattr(raw, "prepare_threshold", None) is None:  # psycopg2, or preparing is off
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor  # psycopg 3 only

    factory = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor
    try:
        return connection.cursor()
    finally:
        raw.cursor_factory = factory
