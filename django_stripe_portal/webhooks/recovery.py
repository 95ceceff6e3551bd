"""Taking up what would otherwise wait forever: ``pending`` events no worker holds past
``WEBHOOK_STUCK_AFTER``, and ``failed`` events whose next attempt is due.

"No worker holds it" is the database's word, not a status flag: a worker dispatches
under the event's row lock for the whole transaction, so a live one is seen as
``NOWAIT`` failing (the event is skipped as busy), and a killed one's transaction was
rolled back with its lock. Every event is dispatched through
``process.process_stored_event``, which reads the status again under the lock, so
several recoverers, workers and deliveries at once still dispatch each event once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.process import Outcome, process_stored_event

Status = WebhookEvent.Status


@dataclass
class RecoveryReport:
    """How many events were found stuck and due, and what became of them."""

    stuck: list[str] = field(default_factory=list)
    due: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return self.outcomes[Outcome.FAILED.value]


def stuck_events(now: datetime, limit: int) -> list[str]:
    """Ids of ``pending`` events received more than ``WEBHOOK_STUCK_AFTER`` seconds ago,
    oldest first (the ``status, created_at`` index)."""
    older_than = now - timedelta(seconds=get_settings().WEBHOOK_STUCK_AFTER)
    return list(
        WebhookEvent.objects.filter(status=Status.PENDING, received_at__lt=older_than)
        .order_by("created_at")
        .values_list("stripe_id", flat=True)[:limit]
    )


def due_events(now: datetime, limit: int) -> list[str]:
    """Ids of ``failed`` events whose ``next_attempt_at`` has passed, earliest first."""
    return list(
        WebhookEvent.objects.filter(status=Status.FAILED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("stripe_id", flat=True)[:limit]
    )


def recover_events(
    *,
    dry_run: bool = False,
    limit: int = 1000,
    after_failure: Callable[[str], None] | None = None,
) -> RecoveryReport:
    """Find stuck and due events and, unless ``dry_run``, dispatch each once here;
    ``after_failure`` is called with the id of each that failed again (task mode
    enqueues its next attempt through it)."""
    now = timezone.now()
    report = RecoveryReport(stuck=stuck_events(now, limit), due=due_events(now, limit))
    if dry_run:
        return report
    for stripe_id in dict.fromkeys(report.stuck + report.due):
        outcome = process_stored_event(stripe_id, nowait=True, only_due=True)
        if outcome is Outcome.FAILED and after_failure is not None:
            after_failure(stripe_id)
        report.outcomes[outcome.value] += 1
    return report
