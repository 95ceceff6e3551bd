"""Task mode with django-tasks-db: the event row and its task commit together.

Where the tasks are rows of the events' database, the view enqueues inside the event
row's transaction: there is no moment at which the row exists without its task, and a
task that cannot be written takes the row with it (503: Stripe delivers again). A
backend that writes elsewhere (a broker) still enqueues after the row's commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.webhooks.tasks import enqueues_with_events
from tests import stripe_objects as so
from tests.webhook_support import SECRET, post_signed

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as the view runs

TASK_MODE = {"API_KEY": "sk_test_x", "WEBHOOK_SECRETS": [SECRET], "WEBHOOK_PROCESSING": "task"}
DB_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _task_rows() -> list[dict[str, Any]]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.values("task_path", "args_kwargs"))


@pytest.fixture
def enqueue_states(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether a transaction was open each time a task was enqueued."""
    from django_stripe_portal.webhooks import tasks

    states: list[bool] = []
    enqueue = tasks._enqueue

    def noting(*args: Any) -> None:
        states.append(connection.in_atomic_block)
        enqueue(*args)

    monkeypatch.setattr(tasks, "_enqueue", noting)
    yield states


def test_the_task_is_written_in_the_event_rows_transaction(
    client: Client, enqueue_states: list[bool]
) -> None:
    event = so.event("customer.subscription.created", so.subscription())
    with override_settings(STRIPE_PORTAL=TASK_MODE, TASKS=DB_BACKEND):
        assert enqueues_with_events()
        assert post_signed(client, event).status_code == 200
        assert post_signed(client, event).status_code == 200  # still pending: again
    assert enqueue_states == [True, True]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING
    assert [row["args_kwargs"]["args"] for row in _task_rows()] == [[event["id"]]] * 2
    assert {row["task_path"] for row in _task_rows()} == {
        "django_stripe_portal.webhooks.tasks.process_webhook_event"
    }


def test_a_task_that_cannot_be_written_takes_the_row_with_it(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_tasks_db.models import DBTaskResult

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the task table is gone")

    event = so.event("customer.subscription.created", so.subscription())
    with override_settings(STRIPE_PORTAL=TASK_MODE, TASKS=DB_BACKEND):
        monkeypatch.setattr(DBTaskResult.objects, "create", refuse)
        response = post_signed(client, event)
        assert response.status_code == 503  # Stripe delivers it again
        assert not WebhookEvent.objects.exists()
        monkeypatch.undo()
        assert post_signed(client, event).status_code == 200  # Stripe's retry
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING
    assert len(_task_rows()) == 1


def test_a_backend_elsewhere_enqueues_after_the_commit(
    client: Client, enqueue_states: list[bool]
) -> None:
    event = so.event("customer.subscription.created", so.subscription())
    with override_settings(STRIPE_PORTAL=TASK_MODE, TASKS=DUMMY):
        assert not enqueues_with_events()
        assert post_signed(client, event).status_code == 200
    assert enqueue_states == [False]  # autocommit: the row was committed first
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PENDING
