"""One customer's visits, each with the changes linked to it (newest visit first)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import F, Prefetch, Value
from django.db.models.functions import NullIf

from django_stripe_portal.activity.figures import ActivityRange, visits_in
from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.state.customers import customer_q


@dataclass(frozen=True)
class VisitHistory:
    visit: PortalSession
    changes: Sequence[WebhookEvent] = ()


def customer_history(
    customer_id: str, activity_range: ActivityRange | None = None, limit: int = 100
) -> list[VisitHistory]:
    """The customer's (a ``cus_…``, or an Accounts v2 customer's ``acct_…``) latest
    visits (newest first), each with the changes linked to it (oldest first). Two queries
    whatever the number of visits; payloads are not loaded (they may be pruned): the
    cancellation feedback is read from its columns."""
    visits = (
        visits_in(activity_range) if activity_range is not None else PortalSession.objects.all()
    )
    changes = (
        WebhookEvent.objects.exclude(change_kind="")
        .defer("payload")
        .annotate(
            # None for no reason, as the payload said it ("" in the columns).
            feedback=NullIf(F("cancel_feedback"), Value("")),
            feedback_option=NullIf(F("cancel_feedback_option"), Value("")),
        )
        .order_by("created_at", "pk")
    )
    sessions = (
        visits.filter(customer_q(customer_id))
        .select_related("configuration")
        .prefetch_related(Prefetch("events", queryset=changes, to_attr="linked_changes"))
        .order_by("-created_at", "-pk")[:limit]
    )
    return [VisitHistory(visit=visit, changes=visit.linked_changes) for visit in sessions]
