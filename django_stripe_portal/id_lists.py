"""A filter on a long list of ids (tens of thousands of customers at risk, their labels).

``field__in=[…]`` sends one parameter per id: at 30,000 ids PostgreSQL spends most of the
query parsing and planning the list (0.8 s where the rows take 0.1 s). There the list
goes as one array parameter, ``field IN (SELECT unnest(%s::text[]))``; other databases
get ``IN``.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import connections
from django.db.models import Q
from django.db.models.expressions import RawSQL

_SEPARATOR = ","


def field_in(field: str, values: Collection[str], *, using: str) -> Q:
    """``Q(field__in=values)``, written for the database ``using`` names."""
    if connections[using].vendor == "postgresql":
        joined = _SEPARATOR.join(values)
        if joined.count(_SEPARATOR) == max(len(values) - 1, 0):
            # No id holds a comma (Stripe's never do): one string split by the server.
            # Dumping a list as an array quotes each element in Python (0.1 s for 30,000
            # ids); the count is one pass in C where a test per id was 30 ms.
            text = RawSQL("SELECT unnest(string_to_array(%s, ','))", (joined,))
            return Q(**{f"{field}__in": text})
        array = RawSQL("SELECT unnest(%s::text[])", (list(values),))
        return Q(**{f"{field}__in": array})
    return Q(**{f"{field}__in": values})
