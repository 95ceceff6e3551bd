"""When a failed event is tried again in task mode, and when it has given up.

Sync mode leaves retries to Stripe (it redelivers a 500 for about three days); task
mode answered Stripe 200 already, so the app keeps that promise itself: the failed
row carries ``next_attempt_at``, a deferred task (where the tasks backend supports
``run_after``) or the recovery sweep takes it up then, and after the last of
``WEBHOOK_RETRY_DELAYS`` the event has given up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django_stripe_portal.conf import get_settings

#: Each delay is stretched by up to this share, so that events that failed together
#: (a receiver's dependency was down) do not all come back in the same second.
JITTER = 0.1


@dataclass(frozen=True)
class RetryPlan:
    """What follows a failed attempt: the next one at ``next_attempt_at``, or none."""

    next_attempt_at: datetime | None

    @property
    def gave_up(self) -> bool:
        return self.next_attempt_at is None


def plan_retry(attempts: int, now: datetime) -> RetryPlan:
    """The plan after ``attempts`` attempts (this failed one included) have failed."""
    delays = get_settings().WEBHOOK_RETRY_DELAYS
    if attempts > len(delays):
        return RetryPlan(None)
    delay = float(delays[max(attempts, 1) - 1])
    jitter = random.uniform(0, JITTER * delay)  # noqa: S311  (spreading load, not a secret)
    return RetryPlan(now + timedelta(seconds=delay + jitter))


def is_due(next_attempt_at: datetime | None, now: datetime, slack: float = 5.0) -> bool:
    """Whether a failed event's next attempt may run now. A task a backend runs a moment
    early (RQ schedules in whole seconds) still counts; ``None`` (gave up, or sync mode's
    failure that Stripe retries) never does."""
    return next_attempt_at is not None and next_attempt_at <= now + timedelta(seconds=slack)
