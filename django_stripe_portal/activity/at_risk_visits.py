"""The visit reasons of ``activity.at_risk``: a cancel flow left without a change, and a
customer who keeps coming back without one. Each is answered with the visits it rests
on (oldest first); ``at_risk`` makes them signals."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db.models import Count, Q, QuerySet

from django_stripe_portal.activity.raw_rows import raw_rows
from django_stripe_portal.activity.utc_text import UtcText, parse_time
from django_stripe_portal.models import PortalSession, WebhookEvent

STUCK_VISITS = 3
STUCK_WITHIN = dt.timedelta(days=7)

#: ``pk``, ``stripe_id``, ``customer_id``, ``created_at``, ``changed`` of one visit.
Visit = dict[str, Any]


class VisitWindow(NamedTuple):
    """The visits the reasons look at, as of ``until``."""

    #: Their scope (an account, or all).
    scope: Q
    since: dt.datetime
    until: dt.datetime
    #: A visit created after this was still in ``VISIT_WINDOW`` at ``until``.
    ended_before: dt.datetime


def changed_visits(window: VisitWindow) -> set[int]:
    """Row ids of the window's visits that a change up to ``until`` is linked to.

    A change is never older than its visit (``webhooks.linking``), so the window's slice
    of the partial ``stripe_portal_evt_visit_change`` index holds them all: one
    index-only read and a set, instead of probing the events once per visit (which read
    the table to check ``change_kind``)."""
    linked = WebhookEvent.objects.filter(
        created_at__gte=window.since, created_at__lte=window.until, portal_session__isnull=False
    )
    return {pk for (pk,) in raw_rows(linked.exclude(change_kind="").values_list("portal_session"))}


def _visits_read(
    visits: QuerySet[PortalSession], window: VisitWindow, changed: set[int]
) -> Iterable[Visit]:
    """The visits that are over at ``until`` (returned by then, or ``VISIT_WINDOW`` passed)
    or changed something (``changed``: a change is linked to the visit, its row id is in
    ``changed``); one that is neither may still change something."""
    rows = raw_rows(
        visits.annotate(
            returned=Q(returned_at__isnull=False, returned_at__lte=window.until),
            over=Q(created_at__lte=window.ended_before),
            created_text=UtcText("created_at"),
        ).values_list("pk", "stripe_id", "customer_id", "created_text", "returned", "over")
    )
    for pk, stripe_id, customer_id, created_text, returned, over in rows:
        visit_changed = pk in changed
        if visit_changed or returned or over:
            yield {
                "pk": pk,
                "stripe_id": stripe_id,
                "customer_id": customer_id,
                "created_at": parse_time(created_text),
                "changed": visit_changed,
            }


def abandoned_cancel_flows(
    window: VisitWindow, changed: set[int]
) -> Iterable[tuple[str, list[Visit]]]:
    """Customers whose latest cancel flow since ``since`` ended with no change."""
    visits = _visits_of(window).filter(flow_type="subscription_cancel")
    latest: dict[str, Visit] = {}
    for visit in _visits_read(visits, window, changed):
        known = latest.get(visit["customer_id"])
        if known is None or (visit["created_at"], visit["pk"]) > (known["created_at"], known["pk"]):
            latest[visit["customer_id"]] = visit
    for customer_id, visit in latest.items():
        if not visit["changed"]:
            yield customer_id, [visit]


def stuck_customers(window: VisitWindow, changed: set[int]) -> Iterable[tuple[str, list[Visit]]]:
    """Customers with ``STUCK_VISITS`` visits within ``STUCK_WITHIN`` since ``since``,
    none of which changed anything, and no change in a visit since."""
    in_range = _visits_of(window)
    frequent = (
        in_range.order_by()
        .values("customer_id")
        .annotate(visits=Count("pk"))
        .filter(visits__gte=STUCK_VISITS)
        .values("customer_id")
    )
    by_customer: dict[str, list[Visit]] = defaultdict(list)
    frequent_visits = in_range.filter(customer_id__in=frequent)
    for visit in _visits_read(frequent_visits, window, changed):
        by_customer[visit["customer_id"]].append(visit)
    for customer_id, visits in by_customer.items():
        run = _stuck_run(sorted(visits, key=lambda v: (v["created_at"], v["pk"])))
        if run:
            yield customer_id, run


def _visits_of(window: VisitWindow) -> QuerySet[PortalSession]:
    return PortalSession.objects.filter(
        window.scope, created_at__gte=window.since, created_at__lte=window.until
    )


def _stuck_run(visits: list[Visit]) -> list[Visit]:
    """The unchanged visits of the latest 7 days holding 3 of them, after the last visit
    that changed something ([] when there is no such run)."""
    since_change: list[Visit] = []
    for visit in visits:
        since_change = [] if visit["changed"] else [*since_change, visit]
    for last in range(len(since_change) - 1, STUCK_VISITS - 2, -1):
        end = since_change[last]["created_at"]
        recent = [v for v in since_change[: last + 1] if end - v["created_at"] <= STUCK_WITHIN]
        if len(recent) >= STUCK_VISITS:
            return recent
    return []
