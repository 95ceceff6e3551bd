"""The two money queries of a range, in rows that add up: the run-rate movements of the
changes linked to its visits, and its cancellations by the events' own time. The revenue
report, its weekly charts and the settled days (``activity.settled``) all sum these rows,
grouped further by a day or a week where they need it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, When

from django_stripe_portal.activity.figures import ActivityRange, linked_changes
from django_stripe_portal.conf import get_settings
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.models import WebhookEvent

CANCELLATIONS = (ChangeKind.CANCELED, ChangeKind.CANCEL_SCHEDULED)

#: The values of a ``movement_rows`` row, in the order settled days store them.
MOVEMENT_KEYS = (
    "currency",
    "change_kind",
    "cancel_reason",
    *("n", "before", "after", "up", "down", "cost", "change"),
)
#: The values of a ``cancellation_rows`` row, likewise.
CANCELLATION_KEYS = ("currency", "n", "portal_n", "amount", "portal")


def movement_rows(activity_range: ActivityRange, **by: Any) -> QuerySet[WebhookEvent, Any]:
    """The range's linked changes by currency, kind and reason (and by the expressions
    ``by`` names), with their run rates before and after, up and down, and the coupons'
    cost (one query)."""
    change = F("run_rate_after") - F("run_rate_before")
    rows: QuerySet[WebhookEvent, Any] = (
        linked_changes(activity_range)
        .exclude(currency="")
        .annotate(**by)
        .values(*by, "currency", "change_kind", "cancel_reason")
        .annotate(
            n=Count("*"),  # not the id: stripe_portal_evt_visit_change holds no id
            before=Sum("run_rate_before"),
            after=Sum("run_rate_after"),
            up=Sum(Case(When(run_rate_after__gt=F("run_rate_before"), then=change))),
            down=Sum(
                Case(
                    When(run_rate_after__lt=F("run_rate_before"), then=-change),
                    output_field=IntegerField(),
                )
            ),
            cost=Sum("discount_cost"),
            change=Sum(change),
        )
        .order_by()
    )
    return rows


def cancellation_rows(
    first: dt.datetime, after: dt.datetime, account: str | None, **by: Any
) -> QuerySet[WebhookEvent, Any]:
    """Every cancellation of [first, after) in the project's mode by the events' own time,
    per currency (``""`` when unknown; and per the expressions ``by`` names), and the
    portal's part."""
    return cancellations_of_modes(first, after, account, **by).filter(
        livemode=get_settings().livemode
    )


def cancellations_of_modes(
    first: dt.datetime, after: dt.datetime, account: str | None, **by: Any
) -> QuerySet[WebhookEvent, Any]:
    """``cancellation_rows`` of both modes (group by ``livemode`` through ``by``)."""
    in_visit = Q(portal_session__isnull=False)
    rows: QuerySet[WebhookEvent, Any] = (
        WebhookEvent.objects.filter(
            Q() if account is None else Q(account=account),
            created_at__gte=first,
            created_at__lt=after,
            change_kind__in=CANCELLATIONS,
        )
        .annotate(**by)
        .values(*by, "currency")
        .annotate(
            n=Count("*"),  # not the id: stripe_portal_evt_cancellation holds no id
            portal_n=Count("portal_session", filter=in_visit),
            amount=Sum("run_rate_before"),
            portal=Sum("run_rate_before", filter=in_visit),
        )
        .order_by()
    )
    return rows
