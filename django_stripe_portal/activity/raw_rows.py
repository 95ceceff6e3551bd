"""Rows of a reading query as the database driver returns them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.models import QuerySet


def raw_rows(queryset: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The rows of a ``values_list`` query without Django's per-row work (its iterator and
    the aggregates' converters: 0.1 s at 30,000 rows). Only for columns the driver
    already returns as Python wants them: text, integers (a PostgreSQL ``SUM`` of
    integers comes as ``Decimal``: the caller converts it)."""
    return rows_around(queryset)


def rows_around(
    queryset: QuerySet[Any, Any], outer: str = "{inner}", outer_params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """The rows of ``outer``, a query around the queryset's SQL (written where ``{inner}``
    stands): what Django cannot write itself, e.g. a ``GROUP BY`` over a window or over a
    grouped query. ``outer_params`` are the parameters ``outer`` holds before ``{inner}``."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(outer.replace("{inner}", sql), (*outer_params, *params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows
