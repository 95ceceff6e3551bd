"""``billing_portal.session.created``: remember visits this app did not open itself.

The redirect view saves its own sessions (``source="app"``) with an upsert in which
its values win; this side only ever inserts (``source="webhook"``) and does nothing
when the row exists, so whichever arrives first, an app row keeps its ``user`` and
``return_to``. The unique ``stripe_id`` decides, not timing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Subquery

from django_stripe_portal.models import PortalConfiguration, PortalSession
from django_stripe_portal.single_statement import PreparedInsert
from django_stripe_portal.subscriptions import id_of, stripe_time


class PreparedWebhookSession:
    """The session row for a ``billing_portal.session.created`` object: compiled now,
    inserted by :meth:`run`, which answers the row and whether it created it.

    Nothing of the session URL is read: it is a bearer credential.
    """

    def __init__(self, obj: dict[str, Any], event_created_at: datetime) -> None:
        flow = obj.get("flow")
        flow_type = flow.get("type") if isinstance(flow, dict) else None
        self.row = PortalSession(
            stripe_id=str(obj["id"]),
            customer_id=id_of(obj.get("customer")),
            configuration_id=Subquery(
                PortalConfiguration.objects.filter(
                    stripe_id=id_of(obj.get("configuration"))
                ).values("pk")[:1]
            ),
            flow_type=str(flow_type or "")[:40],
            locale=str(obj.get("locale") or "")[:20],
            livemode=bool(obj.get("livemode")),
            created_at=stripe_time(obj.get("created")) or event_created_at,
            source=PortalSession.Source.WEBHOOK,
        )
        self.statement = PreparedInsert(self.row, returning=("pk", "configuration"))

    def run(self) -> tuple[PortalSession, bool]:
        inserted = self.statement.run()
        if inserted is None:
            return PortalSession.objects.get(stripe_id=self.row.stripe_id), False
        self.row.configuration_id = inserted[1]
        return self.row, True
