"""``prune_stripe_events``: empty the payloads of old finished events, in batches.

Each batch is one short ``UPDATE`` over a slice of primary keys (its own transaction in
autocommit), so memory stays flat, no lock outlives a batch, and a live delivery that
meets a row of the batch waits one batch at most. Only ``processed`` and ``ignored``
rows are touched: ``pending`` and ``failed`` ones keep their payload for recovery and
replay. The row and every column stay (``stripe_id`` for exactly-once, the times for
catch-up's window, ``customer_id``, ``portal_session``, ``change_kind`` and the
``storage.columns`` for the figures); the payload becomes :data:`PRUNED_PAYLOAD`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Max, Min, Q
from django.utils import timezone

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.storage.pruned import PRUNED_PAYLOAD

BATCH_SIZE = 5000
#: The statuses whose payload may be pruned (nothing will read it again).
PRUNABLE_STATUSES = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)


@dataclass(frozen=True)
class PruneProgress:
    """Where a run stands, for the progress line."""

    pruned: int
    scanned_to: int
    last_pk: int
    seconds: float


@dataclass(frozen=True)
class PruneResult:
    pruned: int
    batches: int
    seconds: float
    cutoff: dt.datetime

    @property
    def rows_per_second(self) -> float:
        return self.pruned / self.seconds if self.seconds else 0.0


def cutoff_for(days: int, now: dt.datetime | None = None) -> dt.datetime:
    """Events Stripe created before this moment are old enough to prune."""
    return (now or timezone.now()) - dt.timedelta(days=days)


def prunable(cutoff: dt.datetime) -> Q:
    """Finished events created before ``cutoff`` whose payload is still there."""
    return Q(status__in=PRUNABLE_STATUSES, created_at__lt=cutoff) & ~Q(payload=PRUNED_PAYLOAD)


def prune_payloads(
    cutoff: dt.datetime,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[PruneProgress], None] | None = None,
) -> PruneResult:
    """Empty the payloads :func:`prunable` selects, ``batch_size`` primary keys at a time
    (with ``dry_run``: count them the same way). Call it outside a transaction so that
    each batch commits on its own."""
    started = time.monotonic()
    old = WebhookEvent.objects.filter(created_at__lt=cutoff)
    bounds = old.aggregate(low=Min("pk"), high=Max("pk"))
    low, high = bounds["low"], bounds["high"]
    pruned = batches = 0
    if low is None or high is None:
        return PruneResult(0, 0, time.monotonic() - started, cutoff)
    start = low - 1
    while start < high:
        end = min(start + batch_size, high)
        batch = WebhookEvent.objects.filter(prunable(cutoff), pk__gt=start, pk__lte=end)
        pruned += batch.count() if dry_run else batch.update(payload=PRUNED_PAYLOAD)
        batches += 1
        start = end
        if progress is not None:
            progress(PruneProgress(pruned, end, high, time.monotonic() - started))
    return PruneResult(pruned, batches, time.monotonic() - started, cutoff)
