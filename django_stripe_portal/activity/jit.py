"""PostgreSQL's JIT turned off for the activity's reading queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, router, transaction

from django_stripe_portal.models import PortalSession


@contextmanager
def without_jit() -> Iterator[None]:
    """PostgreSQL compiles a query to machine code (JIT) when its cost estimate is high.
    The activity's queries over many rows have such estimates (the at-risk list's stuck
    query, a year's report: hundreds of thousands of rows), and the compiling cost more
    than it saved (0.4 s of the stuck query's 0.54 s at 1M sessions); ``SET LOCAL`` turns
    it off for this transaction only."""
    alias = router.db_for_read(PortalSession)
    if connections[alias].vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield
