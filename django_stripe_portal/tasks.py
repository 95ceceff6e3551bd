"""Task mode (``WEBHOOK_PROCESSING = "task"``): the webhook view stores the event and
answers at once; this task dispatches it under the same row lock as every other path.

Uses Django's tasks framework (``django.tasks``, Django ≥ 6.0) or its backport
(``django_tasks``) on older versions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_stripe_portal.webhooks.process import process_stored_event

#: What to install when task mode is asked for and no tasks framework is there.
MISSING_TASKS_FRAMEWORK = (
    "STRIPE_PORTAL['WEBHOOK_PROCESSING'] = 'task' needs Django's tasks framework: "
    "Django 6.0 or later, or on Django 5.2 the backport "
    '(pip install "django-stripe-portal[tasks]").'
)


class _NoTasksFramework:
    """Stands in for the task on Django 5.2 without the backport: importing the app
    works ("sync" mode needs no framework); enqueueing says what to install."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def enqueue(self, *args: Any, **kwargs: Any) -> Any:
        raise ImproperlyConfigured(MISSING_TASKS_FRAMEWORK)


def _without_framework(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    return _NoTasksFramework


try:
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]

    HAS_TASKS_FRAMEWORK = True
except ImportError:  # Django < 6.0: the django-tasks backport, when installed
    try:
        from django_tasks import task  # type: ignore[no-redef,unused-ignore]

        HAS_TASKS_FRAMEWORK = True
    except ImportError:
        task = _without_framework  # type: ignore[assignment,unused-ignore]
        HAS_TASKS_FRAMEWORK = False


@task()
def process_webhook_event(stripe_id: str) -> str:
    """Dispatch one stored event; waits for the lock if a redelivery holds it right now.

    Returns the outcome's name (``processed``, ``duplicate``, ``failed`` …), kept in the
    task result. Receiver failures are recorded on the row, never raised to the backend.
    """
    return process_stored_event(stripe_id, nowait=False).value
