"""Task backends of the bench only.

- ``DiscardingBackend`` accepts and forgets: "task" mode's request path without a
  worker. It stands for an external broker (the hand-off is the enqueue call and the
  JSON encoding of its arguments), and keeps nothing, so a long run does not grow.
- ``DatabaseAfterCommitBackend`` writes django-tasks-db's rows, but is not its backend
  class, so the app treats it as a backend elsewhere and enqueues after the event row's
  commit: the path before the enqueue moved into the row's transaction, measured beside it.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import Task, TaskResult, TaskResultStatus
from django_tasks.utils import get_random_id


class DiscardingBackend(BaseTaskBackend):
    supports_defer = True
    supports_priority = True

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        self.validate_task(task)
        json.dumps([args, kwargs])  # what a broker would be sent
        return TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )


class DatabaseAfterCommitBackend(BaseTaskBackend):
    supports_defer = True
    supports_priority = True
    supports_get_result = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        from django_tasks_db.backend import DatabaseBackend

        self._inner = DatabaseBackend(alias, params)

    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any]:
        return self._inner.enqueue(task, args, kwargs)

    def get_result(self, result_id: str) -> TaskResult[Any]:
        return self._inner.get_result(result_id)
