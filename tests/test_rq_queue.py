"""``OneTripQueue``, the optional RQ queue class of docs/deployment.md, against a real
Redis (``RQ_TEST_URL``): django-tasks-rq's enqueue of the webhook task reaches Redis in
one round trip where django-rq's own queue takes three, and leaves the same job behind;
what RQ must do itself (dependencies, a caller's pipeline) it still does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from django_stripe_portal.tasks import process_webhook_event
from tests.engine_support import redis_available

pytest.importorskip("django_tasks_rq")

import django_rq
import redis
from django_tasks_rq.backend import Job
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry

REDIS_URL = os.environ.get("RQ_TEST_URL", "redis://127.0.0.1:6379/5")
ONE_TRIP = "django_stripe_portal.webhooks.rq_queue.OneTripQueue"

pytestmark = pytest.mark.skipif(not redis_available(REDIS_URL), reason=f"no Redis at {REDIS_URL}")


class _Trips:
    """Counts what the pool's connections send: one send is one round trip."""

    def __init__(self) -> None:
        self.count = 0
        self.pool: redis.ConnectionPool | None = None


@pytest.fixture
def trips() -> Iterator[_Trips]:
    """django-tasks-rq on RQ_TEST_URL's database (emptied), through one connection pool
    whose connections count their sends, as docs/deployment.md configures it."""
    counter = _Trips()

    class CountingConnection(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            counter.count += 1
            super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    redis.Redis(connection_pool=pool).flushdb()
    counter.pool = pool
    yield counter
    redis.Redis(connection_pool=pool).flushdb()
    pool.disconnect()


def _settings(trips: _Trips, queue_class: str | None) -> Any:
    queue: dict[str, Any] = {
        "HOST": "unused",  # the pool's own address is used
        "PORT": 0,
        "REDIS_CLIENT_KWARGS": {"connection_pool": trips.pool},
    }
    if queue_class:
        queue["QUEUE_CLASS"] = queue_class
    return override_settings(
        RQ_QUEUES={"default": queue},
        TASKS={"default": {"BACKEND": "django_tasks_rq.RQBackend"}},
    )


def _trips_per_enqueue(trips: _Trips, count: int) -> list[int]:
    """Round trips of each of ``count`` enqueues after a first one (which may ask the
    server's version for the process)."""
    process_webhook_event.enqueue("evt_first")
    per_enqueue = []
    for number in range(count):
        before = trips.count
        process_webhook_event.enqueue(f"evt_{number}")
        per_enqueue.append(trips.count - before)
    return per_enqueue


def test_the_webhook_task_reaches_redis_in_one_round_trip(trips: _Trips) -> None:
    with _settings(trips, ONE_TRIP):
        assert _trips_per_enqueue(trips, 5) == [1] * 5


def test_django_rqs_own_queue_takes_three(trips: _Trips) -> None:
    """What the class saves: registering the queue, asking the server's version (kept on a
    Redis client that django-rq makes anew for every queue), saving and pushing the job."""
    with _settings(trips, None):
        assert _trips_per_enqueue(trips, 5) == [3] * 5


def test_the_job_left_is_the_one_django_rqs_queue_leaves(trips: _Trips) -> None:
    """Queued on ``default``, registered among RQ's queues, read back by django-tasks-rq
    as a task waiting to run, with the event's id as its argument."""
    results = {}
    for queue_class in (ONE_TRIP, None):
        with _settings(trips, queue_class):
            result = process_webhook_event.enqueue("evt_same")
            connection = django_rq.get_connection("default")
            job = Job.fetch(result.id, connection=connection)
            read_back = process_webhook_event.get_backend().get_result(result.id)
            fields = set(connection.hkeys(job.key)) - {b"enqueued_at", b"created_at"}
            results[queue_class] = (
                job.get_status(),
                job.origin,
                job.args,
                job.meta["backend_name"],
                read_back.status,
                read_back.args,
                sorted(fields),
            )
            assert connection.lrange("rq:queue:default", -1, -1) == [result.id.encode()]
            assert connection.smembers("rq:queues") == {b"rq:queue:default"}
    assert results[ONE_TRIP] == results[None]
    assert results[ONE_TRIP][:5] == (JobStatus.QUEUED, "default", ("evt_same",), "default", "READY")


def test_a_retry_for_later_is_scheduled(trips: _Trips) -> None:
    """``run_after`` (the app's retries) goes through RQ's ``schedule_job``, untouched."""
    later = timezone.now() + timedelta(minutes=5)
    with _settings(trips, ONE_TRIP):
        result = process_webhook_event.using(run_after=later).enqueue("evt_retry")
        queue = django_rq.get_queue("default")
        assert ScheduledJobRegistry(queue=queue).get_job_ids() == [result.id]
        assert queue.get_job_ids() == []


def test_a_job_waiting_for_another_is_left_to_rq(trips: _Trips) -> None:
    """Dependencies need RQ's WATCH and retry: such a job is deferred, not pushed."""
    with _settings(trips, ONE_TRIP):
        queue = django_rq.get_queue("default")
        first = queue.enqueue("builtins.print", "first")
        second = queue.enqueue("builtins.print", "second", depends_on=first)
        assert second.get_status() == JobStatus.DEFERRED
        assert queue.get_job_ids() == [first.id]


def test_a_callers_pipeline_is_left_for_the_caller_to_run(trips: _Trips) -> None:
    with _settings(trips, ONE_TRIP):
        queue = django_rq.get_queue("default")
        with queue.connection.pipeline() as pipe:
            job = queue.enqueue_job(queue.create_job("builtins.print", args=("x",)), pipeline=pipe)
            assert queue.get_job_ids() == []
            pipe.execute()
        assert queue.get_job_ids() == [job.id]
