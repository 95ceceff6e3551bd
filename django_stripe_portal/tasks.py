"""Task mode's public entry points (``WEBHOOK_PROCESSING = "task"``).

The code lives in :mod:`django_stripe_portal.webhooks.tasks`, beside the steps it runs;
this module is the documented path (``django_stripe_portal.tasks.process_webhook_event``)
and keeps working for settings, schedulers and queued jobs that name it.
"""

from django_stripe_portal.webhooks.tasks import (
    HAS_TASKS_FRAMEWORK,
    MISSING_TASKS_FRAMEWORK,
    enqueue_processing,
    enqueue_recovery,
    process_webhook_event,
    recover_webhook_events,
    schedule_retry,
)

__all__ = [
    "HAS_TASKS_FRAMEWORK",
    "MISSING_TASKS_FRAMEWORK",
    "enqueue_processing",
    "enqueue_recovery",
    "process_webhook_event",
    "recover_webhook_events",
    "schedule_retry",
]
