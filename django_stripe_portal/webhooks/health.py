"""Figures a monitor reads about webhook processing: what is stuck, waiting, given up.

Read by ``manage.py check_stripe_webhooks`` (text or JSON, exit 1 when a person is
needed) and shown above the admin's event list. Two indexed queries (the unfinished
events by status: ``stripe_portal_evt_unprocessed``; the newest event by time:
``stripe_portal_evt_created``), whatever the size of the table; never
run inside Django's system checks, which must not touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import WebhookEvent

Status = WebhookEvent.Status


@dataclass(frozen=True)
class WebhookHealth:
    #: ``pending`` for longer than ``WEBHOOK_STUCK_AFTER``: no worker took them.
    stuck: int
    #: ``failed`` with a next attempt scheduled (task mode).
    awaiting_retry: int
    #: ``failed`` and nothing will retry them: task mode after its last scheduled attempt;
    #: sync mode once Stripe's redeliveries are over (older than ``STRIPE_RETRIES_FOR``),
    #: or at once for an event read from the Events API (Stripe never redelivers it).
    given_up: int
    #: ``failed`` without a schedule: sync mode, where Stripe still redelivers.
    failed_awaiting_stripe: int
    #: When the newest event (by Stripe's time) was received, if any.
    last_received_at: datetime | None
    stuck_after: int

    @property
    def needs_attention(self) -> bool:
        """Something a person must look at: work nothing will take up by itself."""
        return bool(self.stuck or self.given_up)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stuck": self.stuck,
            "awaiting_retry": self.awaiting_retry,
            "given_up": self.given_up,
            "failed_awaiting_stripe": self.failed_awaiting_stripe,
            "last_received_at": self.last_received_at.isoformat()
            if self.last_received_at
            else None,
            "stuck_after_seconds": self.stuck_after,
            "needs_attention": self.needs_attention,
        }


#: How long Stripe redelivers an event that was answered with an error (live mode).
STRIPE_RETRIES_FOR = timedelta(days=3)


def webhook_health(now: datetime | None = None) -> WebhookHealth:
    now = now or timezone.now()
    stuck_after = get_settings().WEBHOOK_STUCK_AFTER
    failed = Q(status=Status.FAILED)
    unscheduled = failed & Q(next_attempt_at__isnull=True, gave_up_at__isnull=True)
    stripe_retries = Q(
        received_via=WebhookEvent.ReceivedVia.WEBHOOK, created_at__gte=now - STRIPE_RETRIES_FOR
    )
    # ``OR``ed rather than ``IN``: SQLite proves only the former selects rows of the partial
    # ``stripe_portal_evt_unprocessed`` index (PostgreSQL either).
    unfinished = Q(status=Status.PENDING) | Q(status=Status.FAILED)
    counts = WebhookEvent.objects.filter(unfinished).aggregate(
        stuck=Count(
            "pk",
            filter=Q(status=Status.PENDING, received_at__lt=now - timedelta(seconds=stuck_after)),
        ),
        awaiting_retry=Count("pk", filter=failed & Q(next_attempt_at__isnull=False)),
        given_up=Count(
            "pk",
            filter=(failed & Q(gave_up_at__isnull=False)) | (unscheduled & ~stripe_retries),
        ),
        failed_awaiting_stripe=Count("pk", filter=unscheduled & stripe_retries),
    )
    last_received_at = (
        WebhookEvent.objects.order_by("-created_at").values_list("received_at", flat=True).first()
    )
    return WebhookHealth(**counts, last_received_at=last_received_at, stuck_after=stuck_after)
