"""Task mode (``WEBHOOK_PROCESSING = "task"``): the webhook view stores the event and
answers at once; this task dispatches it under the same row lock as every other path.

Uses Django's tasks framework (``django.tasks``, Django ≥ 6.0) or its backport
(``django_tasks``) on older versions.
"""

from __future__ import annotations

try:
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django < 6.0: the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef,unused-ignore]

from django_stripe_portal.webhooks.process import process_stored_event


@task()
def process_webhook_event(stripe_id: str) -> str:
    """Dispatch one stored event; waits for the lock if a redelivery holds it right now.

    Returns the outcome's name (``processed``, ``duplicate``, ``failed`` …), kept in the
    task result. Receiver failures are recorded on the row, never raised to the backend.
    """
    return process_stored_event(stripe_id, nowait=False).value
