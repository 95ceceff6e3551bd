"""Which portal visit a change event came from.

The visit is the customer's most recent portal session that began at most
``VISIT_WINDOW`` seconds before the event and had not yet ended (the user had not
come back through the return link) when Stripe created the event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q, Subquery

from django_stripe_portal.models import PortalSession


def visit_filter(customer_id: str, event_created_at: datetime, window_seconds: int) -> Q:
    """Sessions of ``customer_id`` whose visit window covers ``event_created_at``."""
    return (
        Q(customer_id=customer_id)
        & Q(created_at__lte=event_created_at)
        & Q(created_at__gte=event_created_at - timedelta(seconds=window_seconds))
        & (Q(returned_at__isnull=True) | Q(returned_at__gte=event_created_at))
    )


def visit_subquery(customer_id: str, event_created_at: datetime, window_seconds: int) -> Subquery:
    """The id of that visit as an expression, so the event insert looks it up in the same
    statement (no extra round trip on the hot path)."""
    return Subquery(
        PortalSession.objects.filter(visit_filter(customer_id, event_created_at, window_seconds))
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )


def find_visit(
    customer_id: str, event_created_at: datetime, window_seconds: int
) -> PortalSession | None:
    """The visit as a row, for reprocessing a stored event (one query)."""
    return (
        PortalSession.objects.filter(visit_filter(customer_id, event_created_at, window_seconds))
        .order_by("-created_at", "-pk")
        .first()
    )
