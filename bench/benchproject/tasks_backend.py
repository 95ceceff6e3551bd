"""A task backend that accepts and forgets: "task" mode's request path without a worker.

It stands for an external broker (the hand-off is the enqueue call and the JSON
encoding of its arguments), and keeps nothing, so a long run does not grow.
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
