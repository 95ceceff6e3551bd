"""Which portal visit a change event came from.

The visit is the customer's most recent portal session that began at most
``VISIT_WINDOW`` seconds before the event and had not yet ended (the user had not
come back through the return link) when Stripe created the event. A discount that
may be an accepted retention offer is linked only to a visit that offered its coupon.

"Come back" is this server's clock and ``created`` is Stripe's, in whole seconds: a
return recorded up to :data:`RETURN_TOLERANCE` before the event still counts as after
it, so that a user redirected back within a second of the change, by a server whose
clock is a little behind Stripe's, keeps the change linked to the visit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from django_stripe_portal.models import PortalSession
from django_stripe_portal.state.row_params import aware_datetime_params

#: How long before an event's ``created`` a recorded return may be and the visit still
#: count as open at the event (clock skew between this server and Stripe).
RETURN_TOLERANCE = timedelta(seconds=2)
#: The output field of a visit lookup (a portal session's pk): one instance, not one a row.
_VISIT_ID = BigIntegerField()


def visit_filter(customer_id: str, event_created_at: datetime, window_seconds: int) -> Q:
    """Sessions of ``customer_id`` whose visit window covers ``event_created_at``."""
    return (
        Q(customer_id=customer_id)
        & Q(created_at__lte=event_created_at)
        & Q(created_at__gte=event_created_at - timedelta(seconds=window_seconds))
        & (Q(returned_at__isnull=True) | Q(returned_at__gte=event_created_at - RETURN_TOLERANCE))
    )


def _visit_queryset(
    customer_id: str, event_created_at: datetime, window_seconds: int
) -> QuerySet[PortalSession, Any]:
    return (
        PortalSession.objects.filter(visit_filter(customer_id, event_created_at, window_seconds))
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )


def _visit_params(
    connection: BaseDatabaseWrapper, customer_id: str, event_created_at: datetime, window: int
) -> list[Any]:
    """The subquery's parameters, in the order of ``visit_filter``'s conditions. An aware
    time goes to the database's operations directly (``DateTimeField.get_db_prep_value``
    less its steps: catch-up links thousands of events)."""
    since = event_created_at - timedelta(seconds=window)
    times = (event_created_at, since, event_created_at - RETURN_TOLERANCE)
    if event_created_at.tzinfo is not None:
        return [customer_id, *aware_datetime_params(connection, times)]
    created_at = PortalSession._meta.get_field("created_at")
    return [customer_id, *(created_at.get_db_prep_value(value, connection) for value in times)]


@cache
def _visit_sql(alias: str) -> str | None:
    """The subquery's SQL for one database, compiled once by the ORM.

    Checked against sentinel values: if the ORM ever orders the parameters differently,
    this returns None and every event compiles the ``Subquery`` instead (slower, same result).
    """
    connection = connections[alias]
    sentinel_time = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    queryset = _visit_queryset("cus_sentinel", sentinel_time, 3600).using(alias)
    sql, params = queryset.query.sql_with_params()
    expected = _visit_params(connection, "cus_sentinel", sentinel_time, 3600)
    return sql if list(params) == expected else None


def visit_subquery(
    customer_id: str, event_created_at: datetime, window_seconds: int, offered_coupon: str = ""
) -> Subquery | RawSQL:
    """The id of that visit as an expression, so the event insert looks it up in the same
    statement (no extra round trip, and no query building, on the hot path).

    With ``offered_coupon`` (a rare discount event) only a visit that offered that coupon
    counts; that query is built each time."""
    if offered_coupon:
        visits = PortalSession.objects.filter(
            visit_filter(customer_id, event_created_at, window_seconds),
            retention_coupon=offered_coupon,
        )
        return Subquery(visits.order_by("-created_at", "-pk").values("pk")[:1])
    alias = router.db_for_read(PortalSession)
    sql = _visit_sql(alias)
    if sql is None:
        return Subquery(_visit_queryset(customer_id, event_created_at, window_seconds))
    params = _visit_params(connections[alias], customer_id, event_created_at, window_seconds)
    return RawSQL(sql, params, output_field=_VISIT_ID)  # noqa: S611  (ORM-compiled SQL, bound params)


def find_visit_id(
    customer_id: str, event_created_at: datetime, window_seconds: int, offered_coupon: str = ""
) -> int | None:
    """The visit's id, for processing a stored event (one query).

    Without a coupon it runs the insert's precompiled subquery itself (the same rule by
    construction, and no query building on a task's path); with one, the ORM's query."""
    alias = router.db_for_read(PortalSession)
    sql = None if offered_coupon else _visit_sql(alias)
    if sql is None:
        visits = PortalSession.objects.filter(
            visit_filter(customer_id, event_created_at, window_seconds)
        )
        if offered_coupon:
            visits = visits.filter(retention_coupon=offered_coupon)
        return visits.order_by("-created_at", "-pk").values_list("pk", flat=True).first()
    params = _visit_params(connections[alias], customer_id, event_created_at, window_seconds)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return None if found is None else int(found[0])
