"""Counting pass only: the SQL a request ran, as response headers.

``X-Bench-SQL`` is the number of statements, transaction control (BEGIN,
SAVEPOINT, COMMIT …) included since each is a round trip to the database;
``X-Bench-SQL-Verbs`` breaks it down by first keyword, e.g. ``INSERT=1,COMMIT=1``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.test.utils import CaptureQueriesContext


class CountSQLMiddleware:
    """Outermost middleware, so that sessions and auth queries count too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with CaptureQueriesContext(connections["default"]) as captured:
            response = self.get_response(request)
        verbs = Counter(
            query["sql"].split(None, 1)[0].upper() for query in captured.captured_queries
        )
        response["X-Bench-SQL"] = str(len(captured.captured_queries))
        response["X-Bench-SQL-Verbs"] = ",".join(f"{verb}={n}" for verb, n in sorted(verbs.items()))
        return response
