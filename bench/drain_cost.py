"""CPU per event of a task worker's drain, per engine, beside a web worker's sync delivery.

A drain rate in events per second depends on the machine's load; the CPU time a worker
spends per event does not. For each engine this stores ``--warmup`` + ``--events``
pending events with their tasks in a fresh PostgreSQL database (the app's own receive
path, task mode, the bench's event mix), then runs that engine's worker in a process of
its own until every event is processed:

- ``db``: django-tasks-db's ``db_worker`` loop (its ``Worker``, in process);
- ``rqsimple``: django-tasks-rq through django-rq, RQ's ``SimpleWorker`` in burst mode;
- ``celery``: django-tasks-fennel's Celery app, a real ``celery worker --pool solo -c 1``
  (``app.Worker``, in process: the same consumer, not eager mode), on RabbitMQ;
- ``celery-reuse``: the same with ``CELERY_DB_REUSE_MAX`` set (Celery otherwise closes
  the database connection around every task, whatever ``CONN_MAX_AGE`` says);
- ``sync``: the web worker's side, the same mix of deliveries posted in sync mode
  through Django's test client (``bench/cpu_cost.py``'s poster).

Over the events after the warm-up it counts the worker's CPU (``time.process_time``),
split into the app's task (``process_stored_event``: the row lock, the state write, the
dispatch, the row's update) and the engine's own work; the SQL statements (the
transactions' ``BEGIN`` and ``COMMIT`` included, as Django's query log shows them), split
the same way; the broker's round trips (Redis commands sent; AMQP frames written and
read); and the CPU of the PostgreSQL backend serving the worker's connection (from
``/proc/<pid>/stat``: the database's share, on the same two cores).

    BENCH_PG_PREFIX=x python bench/drain_cost.py [--events 1000] [--engines sync,db,...]

The best possible drain of one worker is 1 / (CPU per event + waits); the drain goal
(0.8 x a web worker's sync throughput) needs a worker's CPU per event within 1 / 0.8 of
the web worker's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

ENGINES = ("sync", "db", "rqsimple", "celery", "celery-reuse")
WHAT = {
    "sync": "web worker, sync mode (test client)",
    "db": "django-tasks-db, `db_worker`",
    "rqsimple": "django-tasks-rq, `SimpleWorker`",
    "celery": "Celery, `--pool solo -c 1`",
    "celery-reuse": "the same, `CELERY_DB_REUSE_MAX`",
}
SECRET = "whsec_bench"
MARK = "drain_cost: "  # the result's line (a worker may print lines of its own)
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        print(MARK + json.dumps(_inside(args.inside, args.events, args.warmup)))
        return 0
    results = [_run(engine, args.events, args.warmup) for engine in args.engines.split(",")]
    for result in results:
        print(json.dumps(result, indent=1))
    print(_table(results))
    return 0


def _run(engine: str, count: int, warmup: int) -> dict[str, Any]:
    """One engine, in a process of its own (its settings differ) on a fresh database."""
    import engine_workers
    from databases import Databases

    dbs = Databases("postgres", "draincost")
    db = dbs.fresh("draincost")
    env = {**os.environ, **db.env(), "DJANGO_SETTINGS_MODULE": "benchproject.settings"}
    env["BENCH_PROCESSING"] = "sync" if engine == "sync" else "task"
    kind = "celery" if engine == "celery-reuse" else engine
    env.update(engine_workers.engine_env("discard" if engine == "sync" else kind))
    if engine == "celery-reuse":  # Celery keeps the connection (celery/celery#4116)
        env["BENCH_CELERY_DB_REUSE_MAX"] = "1000000"
    if kind == "celery" and not engine_workers.rabbitmq_available():
        raise SystemExit("RabbitMQ is not answering on 127.0.0.1:5672")
    if engine != "sync":
        engine_workers.flush_queue(kind)
    try:
        before = _uptime()
        sizes = ["--events", str(count), "--warmup", str(warmup)]
        done = subprocess.run(
            [sys.executable, __file__, "--inside", engine, *sizes],
            env=env,
            cwd=BENCH.parent,
            capture_output=True,
            text=True,
        )
        # Celery's worker sends what the process prints to its log (stderr).
        lines = (done.stdout + done.stderr).splitlines()
        line = next((x for x in lines[::-1] if x.startswith(MARK)), "")
        if done.returncode != 0 or not line:
            raise SystemExit(f"{engine} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(line[len(MARK) :])
        return {**result, "uptime_before": before, "uptime_after": _uptime()}
    finally:
        dbs.drop_all()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


class Meter:
    """What the worker process has spent so far: read at both ends of the window."""

    def __init__(self) -> None:
        from django.db import connections

        self.db = connections["default"]
        self.statements: Counter[str] = Counter()
        self.app_cpu = 0.0
        self.app_statements = 0
        self.tasks = 0
        self.connections = 0  # opened (Celery closes the connection around every task)
        self.connect_cpu = 0.0
        self.broker: Counter[str] = Counter()
        self._count_transactions()
        self.db.execute_wrappers.append(self._statement)
        self._count_broker()
        connect = self.db.connect

        def connected() -> None:  # the engine's cost, even when the app's query opens it
            cpu = time.process_time()
            connect()
            self.connections += 1
            self.connect_cpu += time.process_time() - cpu

        self.db.connect = connected

    def _statement(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements[_kind(sql)] += 1
        return execute(sql, params, many, context)

    def _count_transactions(self) -> None:
        """``BEGIN`` (autocommit turned off), ``COMMIT`` and ``ROLLBACK``, as Django logs them."""
        db, statements = self.db, self.statements
        set_autocommit, commit, rollback = db.set_autocommit, db.commit, db.rollback

        def begin(autocommit: bool, *args: Any, **kwargs: Any) -> None:
            if not autocommit:
                statements["BEGIN"] += 1
            set_autocommit(autocommit, *args, **kwargs)

        def end(name: str, call: Any) -> Any:
            def ended() -> None:
                statements[name] += 1
                call()

            return ended

        db.set_autocommit, db.commit, db.rollback = (
            begin,
            end("COMMIT", commit),
            end("ROLLBACK", rollback),
        )

    def _count_broker(self) -> None:
        """Redis commands sent (one packed send a round trip) and AMQP frames each way."""
        broker = self.broker
        for module, cls, method, name in (
            ("redis.connection", "AbstractConnection", "send_packed_command", "redis sends"),
            ("amqp.transport", "_AbstractTransport", "write", "amqp frames written"),
            ("amqp.transport", "_AbstractTransport", "read_frame", "amqp frames read"),
        ):
            try:
                owner = getattr(__import__(module, fromlist=[cls]), cls)
            except ImportError:
                continue
            original = getattr(owner, method)

            def counted(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
                broker[_name] += 1
                return _original(*args, **kw)

            setattr(owner, method, counted)

    def read(self) -> dict[str, Any]:
        return {
            "cpu": time.process_time(),
            "wall": time.perf_counter(),
            "app_cpu": self.app_cpu,
            "app_statements": self.app_statements,
            "statements": Counter(self.statements),
            "connections": self.connections,
            "broker": Counter(self.broker),
            "backend": self._backend(),
        }

    def _backend(self) -> tuple[int, float]:
        """(pid, CPU ms) of the PostgreSQL backend serving this process's connection."""
        self.db.ensure_connection()
        pid = self.db.connection.info.backend_pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return pid, (int(fields[11]) + int(fields[12])) * TICK_MS  # utime, stime


def _inside(engine: str, count: int, warmup: int) -> dict[str, Any]:
    import django

    django.setup()
    import payloads

    deliveries = payloads.deliveries(warmup + count, prefix="evt_dc", duplicate_share=0, seed=9)
    if engine == "sync":
        return _sync(deliveries, count, warmup)
    from django_stripe_portal.webhooks import tasks
    from django_stripe_portal.webhooks.accept import accept_event
    from django_stripe_portal.webhooks.receive import receive_event

    for delivery in deliveries:
        receive_event(*accept_event(delivery.body, livemode=False))
    meter = Meter()
    marks: list[dict[str, Any]] = []
    done = threading.Event()
    process = tasks.process_stored_event

    def timed(*args: Any, **kwargs: Any) -> Any:
        cpu, statements = time.process_time(), sum(meter.statements.values())
        connecting = meter.connect_cpu
        try:
            return process(*args, **kwargs)
        finally:
            meter.app_cpu += time.process_time() - cpu - (meter.connect_cpu - connecting)
            meter.app_statements += sum(meter.statements.values()) - statements
            meter.tasks += 1
            if meter.tasks in (warmup, warmup + count):
                marks.append(meter.read())
                if len(marks) == 2:
                    done.set()

    tasks.process_stored_event = timed  # type: ignore[assignment]
    WORKERS[engine](done)
    return _figures(engine, count, *marks, _unfinished())


def _run_db(done: threading.Event) -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,  # stops when the queue is empty
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="draincost",
        excluded_queue_names=[],
    ).run()


def _run_rqsimple(done: threading.Event) -> None:
    import django_rq
    from rq.worker import SimpleWorker

    worker = django_rq.get_worker(
        "default", job_class="django_tasks_rq.Job", worker_class=SimpleWorker
    )
    worker.work(burst=True, logging_level="WARNING")


def _run_celery(done: threading.Event) -> None:
    """A real Celery worker (the consumer ``celery worker`` runs), solo pool, stopped the
    way ``celery worker`` is (SIGTERM, a warm shutdown) once the window is over."""
    from django_tasks_fennel.app import app

    def stop() -> None:
        done.wait()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop, daemon=True).start()
    if os.environ.get("BENCH_CELERY_DB_REUSE_MAX"):  # Celery's knob, else a connection per task
        app.conf.CELERY_DB_REUSE_MAX = int(os.environ["BENCH_CELERY_DB_REUSE_MAX"])
    worker = app.Worker(
        hostname="draincost@%h",
        pool_cls="solo",
        concurrency=1,
        loglevel="WARNING",
        without_gossip=True,
        without_mingle=True,
        quiet=True,
    )
    try:
        worker.start()
    except SystemExit:
        pass


WORKERS = {
    "db": _run_db,
    "rqsimple": _run_rqsimple,
    "celery": _run_celery,
    "celery-reuse": _run_celery,
}


def _unfinished() -> int:
    from django_stripe_portal.models import WebhookEvent

    return WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING).count()


def _sync(deliveries: list[Any], count: int, warmup: int) -> dict[str, Any]:
    """The web worker: the same mix posted in sync mode, one request per delivery."""
    from cpu_cost import poster
    from django.test import Client

    send = poster(Client(), "/billing/webhook/", [d.body for d in deliveries], SECRET)
    meter = Meter()
    for index in range(warmup):
        send(index)
    start = meter.read()
    for index in range(warmup, warmup + count):
        send(index)
    return _figures("sync", count, start, meter.read(), _unfinished())


def _figures(
    engine: str, count: int, start: dict[str, Any], end: dict[str, Any], unfinished: int
) -> dict[str, Any]:
    def per_event(key: str, scale: float = 1.0) -> float:
        return round((end[key] - start[key]) * scale / count, 3)

    statements = end["statements"] - start["statements"]
    total_statements = sum(statements.values())
    app_statements = end["app_statements"] - start["app_statements"]
    broker = end["broker"] - start["broker"]
    cpu = per_event("cpu", 1000)
    app = per_event("app_cpu", 1000) if engine != "sync" else cpu
    same_backend = start["backend"][0] == end["backend"][0]
    return {
        "engine": engine,
        "events": count,
        "cpu_ms_per_event": cpu,
        "app_cpu_ms_per_event": app,
        "engine_cpu_ms_per_event": round(cpu - app, 3),
        "database_backend_cpu_ms_per_event": (
            round((end["backend"][1] - start["backend"][1]) / count, 3) if same_backend else None
        ),
        "wall_ms_per_event": per_event("wall", 1000),
        "database_connections_opened_per_event": per_event("connections"),
        "statements_per_event": round(total_statements / count, 2),
        "app_statements_per_event": round(
            (app_statements if engine != "sync" else total_statements) / count, 2
        ),
        "statements_per_event_by_kind": {
            kind: round(n / count, 2) for kind, n in statements.most_common()
        },
        "broker_per_event": {name: round(n / count, 2) for name, n in broker.most_common()},
        "pending_at_the_end": unfinished,
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def _table(results: list[dict[str, Any]]) -> str:
    """The README's table: CPU per event and what it allows, against the web worker's."""
    sync = next((r for r in results if r["engine"] == "sync"), None)
    lines = [
        "| worker | CPU ms/event: engine | app | worker | database backend | statements "
        "(app's) | broker per event | best ratio to a web worker: worker CPU | worker + "
        "database CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results:
        backend = r["database_backend_cpu_ms_per_event"]
        ratio = ratio_db = "1"
        if sync is not None and r is not sync:
            ratio = f"{sync['cpu_ms_per_event'] / r['cpu_ms_per_event']:.2f}"
            sync_both = sync["cpu_ms_per_event"] + sync["database_backend_cpu_ms_per_event"]
            ratio_db = (
                "n/a" if backend is None else f"{sync_both / (r['cpu_ms_per_event'] + backend):.2f}"
            )
        broker = ", ".join(f"{v} {k}" for k, v in r["broker_per_event"].items()) or "none"
        if r["database_connections_opened_per_event"]:
            broker += f"; {r['database_connections_opened_per_event']} new database connections"
        lines.append(
            f"| {WHAT[r['engine']]} | {r['engine_cpu_ms_per_event']:.2f} "
            f"| {r['app_cpu_ms_per_event']:.2f} | {r['cpu_ms_per_event']:.2f} "
            f"| {'n/a' if backend is None else f'{backend:.2f}'} "
            f"| {r['statements_per_event']} ({r['app_statements_per_event']}) "
            f"| {broker} | {ratio} | {ratio_db} |"
        )
    return "\n".join(lines)


def _kind(sql: str) -> str:
    """The statement's verb and its table: ``UPDATE django_tasks_database_dbtaskresult``."""
    words = sql.replace('"', "").split()
    verb = words[0].upper() if words else "?"
    if verb in ("SELECT", "DELETE"):
        table = words[words.index("FROM") + 1] if "FROM" in words else ""
    elif verb == "INSERT":
        table = words[2] if len(words) > 2 else ""
    else:
        table = words[1] if len(words) > 1 else ""
    locking = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
    return f"{verb} {table}{locking}".strip()


if __name__ == "__main__":
    sys.exit(main())
