"""Task mode on real worker engines, each in its own processes: gunicorn with 2 workers
takes the deliveries, 2 workers of the engine dispatch them, on PostgreSQL.

- ``db``: django-tasks-db's ``db_worker`` (the recommended engine: no other service);
- ``rq``: django-tasks-rq's RQ worker on the Redis at 127.0.0.1:6379 (a work horse
  forked per job); ``rq-simple``: the same with ``--worker-class rq.worker.SimpleWorker``
  (no fork: the job runs in the worker process, and a kill takes the worker with it);
- ``celery``: a ``celery worker`` (prefork pool, one child) through django-tasks-fennel
  on the RabbitMQ at 127.0.0.1:5672.

Each test proves one promise: every event processed with each receiver called once;
a worker SIGKILLed mid-receiver loses nothing (``recover_stripe_events`` takes the
event up, once); a receiver that fails twice succeeds on the third attempt after the
scheduled delays (1 s each here); one that always fails gives up, signalled once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_stripe_portal.models import WebhookEvent
from tests import stripe_objects as so
from tests.engine_support import (
    fresh_broker,
    rabbitmq_available,
    redis_available,
    worker_args,
    worker_ready,
)
from tests.process_support import (
    ROOT,
    child_env,
    gunicorn,
    lines,
    post_body,
    running,
    wait_until,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

Status = WebhookEvent.Status
REDIS_URL = os.environ.get("RQ_TEST_URL", "redis://127.0.0.1:6379/5")
NO_REDIS = pytest.mark.skipif(not redis_available(REDIS_URL), reason=f"no Redis at {REDIS_URL}")
NO_RABBITMQ = pytest.mark.skipif(not rabbitmq_available(), reason="no RabbitMQ at 127.0.0.1:5672")

ENGINES = [
    pytest.param("db", id="django-tasks-db"),
    pytest.param("rq", id="django-tasks-rq", marks=NO_REDIS),
    pytest.param("rq-simple", id="django-tasks-rq-SimpleWorker", marks=NO_REDIS),
    pytest.param("celery", id="celery", marks=NO_RABBITMQ),
]


@dataclass
class Site:
    """The running site: its port, the receivers' trace files, the engine's workers."""

    port: int
    directory: Path
    workers: list[Any]
    env: dict[str, str]

    def deliver(self, events: list[dict[str, Any]]) -> list[int]:
        bodies = [json.dumps(event) for event in events]
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda body: post_body(self.port, body), bodies))

    def trace(self, name: str) -> list[tuple[str, int]]:
        return [(line.split()[0], int(line.split()[1])) for line in lines(self.directory / name)]

    def list_in(self, name: str, *stripe_ids: str) -> None:
        with (self.directory / name).open("a") as file:
            file.write("".join(f"{stripe_id}\n" for stripe_id in stripe_ids))


@contextmanager
def _site(engine: str, tmp_path: Path, workers: int = 2) -> Iterator[Site]:
    env = child_env(
        "tests.engines.settings",
        TASK_ENGINE=engine,
        ENGINES_DIR=str(tmp_path),
        RQ_URL=REDIS_URL,
        RQ_CLIENT_NAME=f"engines-test-{os.getpid()}-{tmp_path.name}",
        CELERY_BROKER_URL=fresh_broker(engine, REDIS_URL),
    )
    with ExitStack() as stack:
        port = stack.enter_context(
            gunicorn("tests.engines.wsgi:application", env, tmp_path / "gunicorn.log")
        )
        logs = [tmp_path / f"worker{number}.log" for number in range(workers)]
        running_workers = [
            stack.enter_context(
                running(worker_args(engine, number), env, log, ready=worker_ready(engine, log))
            )
            for number, log in enumerate(logs)
        ]
        yield Site(port, tmp_path, running_workers, env)


def _events(count: int) -> list[dict[str, Any]]:
    return [so.event("customer.subscription.created", so.subscription()) for _ in range(count)]


def _statuses(events: list[dict[str, Any]]) -> Counter[str]:
    ids = [event["id"] for event in events]
    return Counter(WebhookEvent.objects.filter(stripe_id__in=ids).values_list("status", flat=True))


@pytest.mark.parametrize("engine", ENGINES)
def test_every_event_is_processed_with_each_receiver_called_once(
    engine: str, tmp_path: Path
) -> None:
    events = _events(60)
    with _site(engine, tmp_path) as site:
        assert site.deliver(events) == [200] * len(events)
        wait_until(
            lambda: _statuses(events) == Counter({Status.PROCESSED: len(events)}),
            "every event to be processed",
        )
    completed = Counter(stripe_id for stripe_id, _ in site.trace("completed"))
    assert completed == Counter({event["id"]: 1 for event in events})
    if engine != "rq":  # (the forking RQ worker runs each job in a new process)
        assert len({pid for _, pid in site.trace("completed")}) == 2, "both workers took part"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_worker_killed_mid_receiver_loses_nothing(engine: str, tmp_path: Path) -> None:
    [blocked, *others] = events = _events(6)
    with _site(engine, tmp_path) as site:
        site.list_in("block", blocked["id"])
        assert site.deliver(events) == [200] * len(events)
        killed_pid = wait_until(
            lambda: [pid for stripe_id, pid in site.trace("started") if stripe_id == blocked["id"]],
            "the receiver to start",
        )[0]
        os.kill(killed_pid, signal.SIGKILL)  # the process running the receiver, lock held
        (tmp_path / "block").unlink()
        wait_until(
            lambda: _statuses(others) == Counter({Status.PROCESSED: len(others)}),
            "the other events",
        )
        # The killed worker's transaction was rolled back: the event is pending, untouched.
        row = WebhookEvent.objects.get(stripe_id=blocked["id"])
        assert (row.status, row.attempts) == (Status.PENDING, 0)
        # What cron runs: the command, in its own process.
        recovery = subprocess.run(
            [sys.executable, "-m", "django", "recover_stripe_events"],
            env={**site.env, "STUCK_AFTER": "0"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert recovery.returncode == 0, recovery.stderr
        assert "Took up 1 stuck and 0 due event(s): 1 processed." in recovery.stdout
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PROCESSED, 1)
    completed = Counter(stripe_id for stripe_id, _ in site.trace("completed"))
    assert completed == Counter({event["id"]: 1 for event in events}), "each once"
    started = [stripe_id for stripe_id, _ in site.trace("started")]
    assert started.count(blocked["id"]) == 2  # the killed attempt, then the recovery


@pytest.mark.parametrize("engine", ENGINES)
def test_retries_after_the_scheduled_delays_then_success_or_give_up(
    engine: str, tmp_path: Path
) -> None:
    flaky, failing, fine = _events(3)
    with _site(engine, tmp_path, workers=1) as site:
        site.list_in("flaky", flaky["id"])
        site.list_in("always_failing", failing["id"])
        assert site.deliver([flaky, failing, fine]) == [200, 200, 200]
        wait_until(
            lambda: (
                _statuses([flaky, fine]) == Counter({Status.PROCESSED: 2}) and site.trace("gave_up")
            ),
            "the retries to run their course",
        )
    row = WebhookEvent.objects.get(stripe_id=flaky["id"])
    assert row.attempts == 3 and row.next_attempt_at is None
    # Two delays of 1 s (RQ schedules by whole seconds, so up to 1 s early).
    assert (row.processed_at - row.received_at).total_seconds() >= 1.0
    given_up = WebhookEvent.objects.get(stripe_id=failing["id"])
    assert (given_up.status, given_up.attempts) == (Status.FAILED, 3)
    assert given_up.gave_up_at is not None and given_up.next_attempt_at is None
    assert [stripe_id for stripe_id, _ in site.trace("gave_up")] == [failing["id"]]
    completed = Counter(stripe_id for stripe_id, _ in site.trace("completed"))
    assert completed == Counter({flaky["id"]: 1, fine["id"]: 1})


@NO_REDIS
def test_rq_enqueues_through_one_redis_connection_per_web_process(tmp_path: Path) -> None:
    """docs/deployment.md's RQ settings (a connection pool in ``REDIS_CLIENT_KWARGS``):
    every delivery of a web worker reuses its one connection; django-rq's plain ``URL``
    setting opens a new one per enqueue (rq/django-rq#210)."""
    import redis

    server = redis.Redis.from_url(REDIS_URL)

    def web_connections(name: str) -> set[int]:
        return {client["id"] for client in server.client_list() if client["name"] == name}

    with _site("rq", tmp_path, workers=0) as site:
        name = site.env["RQ_CLIENT_NAME"]
        assert site.deliver(_events(40)) == [200] * 40
        first = web_connections(name)
        assert site.deliver(_events(40)) == [200] * 40
        second = web_connections(name)
    assert 1 <= len(first) <= 2, "one connection per gunicorn worker"
    assert second == first, "the same connections, not new ones"
    assert server.llen("rq:queue:default") == 80
