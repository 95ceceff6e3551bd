"""The real task engines' side of the bench: their worker processes, what is queued,
what is still pending, a sender at a steady rate, and the two measurements that need
workers: the drain (events per second per worker) and the end-to-end latency.

The commands are those of ``docs/deployment.md``: django-tasks-db's ``db_worker``
(``--interval 0.1 --no-startup-delay``), django-tasks-rq's ``rqworker`` (RQ forks a work
horse per job; ``rqsimple``: ``--worker-class rq.worker.SimpleWorker``, no fork) and
``celery worker`` (one prefork child each) through django-tasks-fennel.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import payloads
from databases import Database
from load import percentile
from scale import BENCH, OUT, PYTHON, ROOT, BenchBroken

RQ_URL = os.environ.get("BENCH_RQ_URL", "redis://127.0.0.1:6379/14")
#: A second Redis database for the ``rqurl`` ingest target (left out when not set), so
#: that each target's queue can be checked on its own.
RQ_ALT_URL = os.environ.get("BENCH_RQ_ALT_URL", "")
#: A third one for the ``rqstock`` ingest target (django-rq's own queue class), likewise.
RQ_STOCK_URL = os.environ.get("BENCH_RQ_STOCK_URL", "")
#: The RabbitMQ virtual host of the bench's Celery queue (made with rabbitmqctl if missing).
CELERY_VHOST = os.environ.get("BENCH_CELERY_VHOST", "bench")
CELERY_URL = f"amqp://guest:guest@127.0.0.1:5672/{CELERY_VHOST}"
RQ_WORKER = ["-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler"]
WORKER_ARGS = {
    "db": ["-m", "django", "db_worker", "--no-reload", "--interval", "0.1", "--no-startup-delay"],
    "rq": RQ_WORKER,
    "rqsimple": [*RQ_WORKER, "--worker-class", "rq.worker.SimpleWorker"],
    "celery": [
        *["-m", "celery", "-A", "django_tasks_fennel.app", "worker", "--concurrency", "1"],
        *["--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
    ],
}
#: Where each engine keeps its queue.
QUEUE_KIND = {
    "db": "db",
    "dbafter": "db",
    "rq": "rq",
    "rqsimple": "rq",
    "rqurl": "rq",
    "rqstock": "rq",
    "celery": "celery",
}
TASKS_TABLE = "django_tasks_database_dbtaskresult"
EVENTS_TABLE = "django_stripe_portal_webhookevent"
WEBHOOK_SECRET = "whsec_bench"


def engine_env(engine: str) -> dict[str, str]:
    return {
        "BENCH_TASK_ENGINE": engine,
        "BENCH_RQ_URL": _rq_url(engine),
        "BENCH_CELERY_URL": CELERY_URL,
    }


def _rq_url(engine: str) -> str:
    return {"rqurl": RQ_ALT_URL, "rqstock": RQ_STOCK_URL}.get(engine, RQ_URL)


def _redis(url: str = RQ_URL) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2)


def redis_available() -> bool:
    try:
        return bool(_redis().ping())
    except Exception:
        return False


def flush_redis(url: str = RQ_URL) -> None:
    """Empty the bench's Redis database (``BENCH_RQ_URL``, db 14 by default) only."""
    _redis(url).flushdb()


def rabbitmq_available() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            pass
    except OSError:
        return False
    return _ensure_vhost()


def _ensure_vhost() -> bool:
    """The bench's virtual host exists (made with rabbitmqctl where it is missing)."""
    import shutil

    try:
        with _amqp():
            return True
    except Exception:  # noqa: S110 (made below)
        pass
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return False
    subprocess.run([rabbitmqctl, "add_vhost", CELERY_VHOST], capture_output=True, timeout=60)
    subprocess.run(
        [rabbitmqctl, "set_permissions", "-p", CELERY_VHOST, "guest", ".*", ".*", ".*"],
        capture_output=True,
        timeout=60,
    )
    try:
        with _amqp():
            return True
    except Exception:
        return False


def _amqp() -> Any:
    import amqp

    conn = amqp.Connection(
        "127.0.0.1:5672", userid="guest", password="guest", virtual_host=CELERY_VHOST
    )
    conn.connect()
    return conn


def flush_celery() -> None:
    """Empty the bench's Celery queue (``default`` on the bench's virtual host)."""
    import amqp

    with _amqp() as conn:
        try:
            conn.channel().queue_purge("default")
        except amqp.exceptions.NotFound:
            pass


def flush_queue(engine: str) -> None:
    """Empty the engine's queue if it is not a table of the (fresh) database."""
    if QUEUE_KIND[engine] == "rq":
        flush_redis(_rq_url(engine))
    elif QUEUE_KIND[engine] == "celery":
        flush_celery()


def _celery_queued() -> dict[str, int]:
    """Read every message of the Celery queue without taking it (unacknowledged, then
    returned when the channel closes): how many, and for how many distinct events."""
    import json

    import amqp

    events: set[str] = set()
    total = 0
    with _amqp() as conn:
        channel = conn.channel()
        try:
            while (message := channel.basic_get("default", no_ack=False)) is not None:
                total += 1
                args, _kwargs, _embed = json.loads(message.body)
                events.add(str(args[0]))
        except amqp.exceptions.NotFound:
            pass
    return {"tasks": total, "distinct_events": len(events)}


def query(db: Database, sql: str) -> tuple[Any, ...]:
    """One row of ``sql`` (our own fixed statements) on ``db``."""
    if db.engine == "postgres":
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db.name}") as conn:
            row = conn.execute(sql).fetchone()  # type: ignore[call-overload]
    else:
        import sqlite3

        conn = sqlite3.connect(db.name, timeout=30)
        try:
            row = conn.execute(sql).fetchone()
        finally:
            conn.close()
    assert row is not None
    return tuple(row)


def event_counts(db: Database) -> dict[str, int]:
    """Stored events by status."""
    counts = dict.fromkeys(("pending", "processed", "ignored", "failed"), 0)
    for status in counts:
        (counts[status],) = query(
            db,
            f"SELECT count(*) FROM {EVENTS_TABLE} WHERE status = '{status}'",  # noqa: S608
        )
    return counts


def queued_tasks(db: Database, engine: str) -> dict[str, int]:
    """Tasks the engine holds: how many, and for how many distinct event ids."""
    if QUEUE_KIND[engine] == "celery":
        return _celery_queued()
    if QUEUE_KIND[engine] == "db":
        total, distinct = query(
            db,
            f"SELECT count(*), count(DISTINCT args_kwargs) FROM {TASKS_TABLE}",  # noqa: S608
        )
        return {"tasks": int(total), "distinct_events": int(distinct)}
    from rq import Queue
    from rq.job import Job

    connection = _redis(_rq_url(engine))
    ids = Queue("default", connection=connection).get_job_ids()
    events: set[str] = set()
    for start in range(0, len(ids), 1000):
        for job in Job.fetch_many(ids[start : start + 1000], connection=connection):
            if job is not None:
                events.add(str(job.args[0]))
    return {"tasks": len(ids), "distinct_events": len(events)}


@contextmanager
def workers(
    engine: str, db: Database, count: int, env: dict[str, str], name: str = ""
) -> Iterator[list[Any]]:
    """``count`` worker processes of ``engine`` on ``db``, stopped on the way out; each
    leads a session of its own, so ``os.killpg`` takes its children too (a host's death)."""
    child_env = worker_env(engine, db, env)
    OUT.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        processes = []
        for number in range(count):
            log = stack.enter_context((OUT / f"worker_{engine}{name}_{number}.log").open("w"))
            process = subprocess.Popen(
                [PYTHON, *WORKER_ARGS[engine], *_node_name(engine, number)],
                env=child_env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            stack.callback(_stop, process)
            processes.append(process)
        yield processes


def worker_env(engine: str, db: Database, env: dict[str, str]) -> dict[str, str]:
    """The environment of a process of the bench project in task mode on ``engine``."""
    return {
        **os.environ,
        **db.env(),
        **engine_env(engine),
        **env,
        "DJANGO_SETTINGS_MODULE": "benchproject.settings",
        "BENCH_PROCESSING": "task",
        "PYTHONPATH": f"{BENCH}:{ROOT}",
    }


def _node_name(engine: str, number: int) -> list[str]:
    return ["--hostname", f"bench{number}@%h"] if engine == "celery" else []


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_done(
    db: Database, expected: int, timeout: float, processes: list[Any]
) -> tuple[float, dict[str, int]]:
    """Poll (10 per second) until ``expected`` events are done and none is pending;
    the seconds it took and the counts."""
    start = time.monotonic()
    while True:
        counts = event_counts(db)
        done = counts["processed"] + counts["ignored"] + counts["failed"]
        if done >= expected and counts["pending"] == 0:
            return time.monotonic() - start, counts
        if time.monotonic() - start > timeout:
            raise BenchBroken(f"{db.name}: not drained after {timeout:.0f} s: {counts}")
        if any(p.poll() is not None for p in processes):
            raise BenchBroken(f"{db.name}: a worker exited; see bench/out/worker_*.log")
        time.sleep(0.1)


def processing_span(db: Database) -> tuple[int, float]:
    """(events done, seconds from the first ``processed_at`` to the last)."""
    if db.engine == "postgres":
        sql = "EXTRACT(EPOCH FROM max(processed_at) - min(processed_at))"
    else:
        sql = "(julianday(max(processed_at)) - julianday(min(processed_at))) * 86400"
    done, span = query(
        db,
        f"SELECT count(*), {sql} FROM {EVENTS_TABLE} "  # noqa: S608
        "WHERE status IN ('processed', 'ignored')",
    )
    return int(done), float(span or 0.0)


def paced_send(port: int, count: int, rate: float, prefix: str, seed: int) -> dict[str, Any]:
    """Send ``count`` new deliveries at ``rate`` per second (an open schedule: delivery
    ``i`` leaves at ``start + i / rate``, late ones at once) from 4 threads; each
    delivery is signed and its ``time.time()`` noted just before it is sent."""
    batch = payloads.deliveries(count, prefix=prefix, duplicate_share=0, seed=seed)
    sent: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    lateness: list[float] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.2
    threads = 4

    def client(first: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(first, count, threads):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            delivery = batch[i]
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": payloads.sign(delivery.body, WEBHOOK_SECRET),
            }
            at = time.time()
            try:
                conn.request("POST", "/billing/webhook/", body=delivery.body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            with lock:
                sent[delivery.event_id] = at
                statuses[status] += 1
                lateness.append(max(0.0, -delay))
        conn.close()

    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - start
    return {
        "sent": sent,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "achieved_rate": count / elapsed if elapsed > 0 else 0.0,
        "late_share": sum(1 for x in lateness if x > 0.05) / max(len(lateness), 1),
    }


def received_times(path: Path) -> dict[str, float]:
    """The first time each event reached ``webhook_received`` (a retried transaction
    can note one twice)."""
    first: dict[str, float] = {}
    if not path.exists():
        return first
    for line in path.read_text().splitlines():
        event_id, at = line.split()
        first.setdefault(event_id, float(at))
    return first


def latency_summary(sent: dict[str, float], received: dict[str, float]) -> dict[str, Any]:
    """Milliseconds from the send to the receiver, over the events that were sent."""
    values = sorted((received[e] - at) * 1000 for e, at in sent.items() if e in received)
    return {
        "events": len(sent),
        "received": len(values),
        "p50_ms": percentile(values, 0.50),
        "p90_ms": percentile(values, 0.90),
        "p99_ms": percentile(values, 0.99),
        "max_ms": values[-1] if values else float("nan"),
    }
