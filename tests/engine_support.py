"""The engines' side of the real-process tests: each engine's worker command (those of
docs/deployment.md), whether its service answers, and a broker emptied for the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from django.db import connection

RABBITMQ = ("127.0.0.1", 5672)

#: The worker command lines docs/deployment.md recommends, with a short poll interval.
WORKER_ARGS = {
    "db": ["-m", "django", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload"],
    "rq": ["-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler"],
    "rq-simple": [
        *["-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler"],
        *["--worker-class", "rq.worker.SimpleWorker"],
    ],
    "celery": [
        *["-m", "celery", "-A", "django_tasks_fennel.app", "worker", "--concurrency", "1"],
        *["--loglevel", "INFO", "--without-gossip", "--without-mingle"],
    ],
}


def worker_args(engine: str, number: int = 0) -> list[str]:
    """The command of worker ``number`` (Celery's need names of their own)."""
    if engine == "celery":
        return [*WORKER_ARGS[engine], "--hostname", f"worker{number}@%h"]
    return WORKER_ARGS[engine]


def worker_ready(engine: str, log: Path) -> Callable[[], bool] | None:
    """How to tell the worker is taking tasks (Celery's takes seconds to start; the others
    poll or block on their queue from the moment they run)."""
    if engine != "celery":
        return None
    return lambda: log.exists() and " ready." in log.read_text()


def redis_available(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def rabbitmq_available() -> bool:
    try:
        with socket.create_connection(RABBITMQ, timeout=1):
            return True
    except OSError:
        return False


def fresh_broker(engine: str, redis_url: str) -> str:
    """Empty what the engine's queue holds for this test and return the Celery broker URL.

    RQ: this suite's Redis database. Celery: a RabbitMQ virtual host named after the test
    database (so two branches' suites on one server never take each other's tasks), made
    with ``rabbitmqctl`` where it is at hand (else the default ``/``), its queue purged.
    """
    if engine.startswith("rq"):
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    vhost = _vhost(str(connection.settings_dict["NAME"])) if engine == "celery" else ""
    url = f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}/{vhost}"
    if engine == "celery":
        import kombu
        from amqp.exceptions import NotFound

        with kombu.Connection(url) as conn:
            try:
                kombu.Queue("default", channel=conn.default_channel).purge()
            except NotFound:
                pass  # never declared on this virtual host: nothing to purge
    return url


def _vhost(name: str) -> str:
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return ""
    made = subprocess.run(
        [rabbitmqctl, "add_vhost", name], capture_output=True, text=True, timeout=60
    )
    if made.returncode != 0 and "already exists" not in made.stdout + made.stderr:
        return ""
    subprocess.run(
        [rabbitmqctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return name
