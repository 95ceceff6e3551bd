"""Task mode (``WEBHOOK_PROCESSING = "task"``): the tasks of Django's tasks framework and
how they are enqueued. Public path: :mod:`django_stripe_portal.tasks`.

The webhook view stores the event and answers at once; ``process_webhook_event``
dispatches it under the same row lock as every other path. The row is the truth and
a task only a nudge: a task that is lost (a worker killed, a broker restarted) leaves
a ``pending`` or due ``failed`` row that ``manage.py recover_stripe_events`` finds.

Uses ``django.tasks`` (Django ≥ 6.0) or its backport ``django_tasks`` on older
versions; any backend works (django-tasks-db, django-tasks-rq and Celery through
django-tasks-fennel are tested with real workers). Arguments are JSON: the event's
``evt_…`` id only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, router, transaction

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.process import Outcome, process_stored_event
from django_stripe_portal.webhooks.recovery import recover_events

logger = logging.getLogger("django_stripe_portal.webhooks")

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

    def using(self, **kwargs: Any) -> Any:
        raise ImproperlyConfigured(MISSING_TASKS_FRAMEWORK)

    def get_backend(self) -> Any:
        raise ImproperlyConfigured(MISSING_TASKS_FRAMEWORK)

    def call(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


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
    task result. Receiver failures are recorded on the row, never raised to the backend;
    a failure schedules the next attempt (``WEBHOOK_RETRY_DELAYS``).
    """
    outcome = process_stored_event(stripe_id, nowait=False, only_due=True)
    if outcome is Outcome.FAILED:
        schedule_retry(stripe_id)
    return outcome.value


@task()
def recover_webhook_events() -> dict[str, int]:
    """The recovery sweep (``manage.py recover_stripe_events``) as a task, for engines
    that run periodic work; returns how many events it found and what became of them."""
    report = recover_events(after_failure=schedule_retry)
    return {"stuck": len(report.stuck), "due": len(report.due), **report.outcomes}


def enqueue_recovery() -> None:
    """A plain function for schedulers that cannot call a task (RQ's ``rqcron``)."""
    recover_webhook_events.enqueue()


def enqueue_processing(stripe_id: str, run_after: datetime | None = None) -> None:
    """Enqueue ``process_webhook_event`` for a stored event.

    A backend whose tasks are rows of the events' database (:func:`enqueues_with_events`)
    enqueues inside the caller's transaction: one commit, and never a row without its
    task. Any other enqueues once the transaction has committed (a worker must not look
    for the row before it is visible): at once in autocommit, where an enqueue error
    reaches the caller; after a commit it is logged, and the row stays for the sweep.
    """
    if connection.in_atomic_block and not enqueues_with_events():
        transaction.on_commit(partial(_enqueue, stripe_id, run_after), robust=True)
    else:
        _enqueue(stripe_id, run_after)


def enqueues_with_events() -> bool:
    """Does the tasks backend write its tasks to the database the event rows are in?

    True for django-tasks-db's ``DatabaseBackend`` when the router sends its table and
    the events' to one database: the task can then commit with the event row.
    """
    try:
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.models import DBTaskResult

        backend = process_webhook_event.get_backend()
    except Exception:  # not installed, or a backend that cannot load: the enqueue says so
        return False
    return isinstance(backend, DatabaseBackend) and router.db_for_write(
        DBTaskResult
    ) == router.db_for_write(WebhookEvent)


def schedule_retry(stripe_id: str) -> None:
    """Enqueue the next attempt of a failed event for its ``next_attempt_at``, where the
    backend can defer a task; otherwise (or if this enqueue is lost) the recovery sweep
    takes the row up when it is due."""
    next_attempt_at = (
        WebhookEvent.objects.filter(stripe_id=stripe_id, status=WebhookEvent.Status.FAILED)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if next_attempt_at is None or not process_webhook_event.get_backend().supports_defer:
        return
    try:
        enqueue_processing(stripe_id, run_after=next_attempt_at)
    except Exception:
        logger.exception(
            "Could not schedule the next attempt of Stripe event %s; "
            "`manage.py recover_stripe_events` takes it up at %s",
            stripe_id,
            next_attempt_at.isoformat(),
        )


def _enqueue(stripe_id: str, run_after: datetime | None) -> None:
    if run_after is None:
        process_webhook_event.enqueue(stripe_id)
    else:
        process_webhook_event.using(run_after=run_after).enqueue(stripe_id)
