"""Task mode on the real engines (part ``engines``): django-tasks-db's ``DatabaseBackend``,
django-tasks-rq's ``RQBackend`` on Redis and Celery (django-tasks-fennel) on RabbitMQ,
where the enqueue really happens.

1. **Ingest**: the webhook endpoint in task mode with each engine (and with the bench's
   discarding backend, for reference) against the floor, in interleaved rounds, the
   engines' workers stopped; afterwards every stored event has its task queued. Beside
   django-tasks-db (the task in the event row's transaction) runs ``dbafter`` (the same
   table written after the row's commit); beside RQ through one connection pool per
   process and the app's ``OneTripQueue``, ``rqstock`` (the same pool, django-rq's own
   queue class) when ``BENCH_RQ_STOCK_URL`` names a Redis database for it, and ``rqurl``
   (django-rq's plain ``URL``: a connection per enqueue) when ``BENCH_RQ_ALT_URL`` does.
2. **Drain**: ``drain_events`` events stored with their tasks (delivered through the
   endpoint, workers stopped), then 1 or 2 workers started and timed until every event
   is processed (RQ with its forking worker and with ``SimpleWorker``).
3. **Latency**: new deliveries at a steady rate (half the drain rate measured just
   before) with 1 or 2 workers running; from the moment each delivery is sent to the
   moment a receiver of ``webhook_received`` ran (``time.time()`` both, same machine).

    python bench/part_engines.py [--smoke] [--engines sqlite,postgres] [--rounds N]

writes ``bench/engines_results.json`` (a smoke run: ``bench/out/``); ``run.py --parts
engines`` runs the same inside the whole bench. rq needs the Redis at
``BENCH_RQ_URL`` (db 14 of 127.0.0.1 by default, emptied before each use), celery the
RabbitMQ at 127.0.0.1:5672 (virtual host ``BENCH_CELERY_VHOST``, ``bench`` by default).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any

import engine_workers as ew
from databases import Databases, postgres_available
from load import Target, close_generator, load
from report import engines_lines, machine
from rounds import Run, ratios, round_ratios
from scale import BENCH, FULL, OUT, SMOKE, BenchBroken, Scale, log
from servers import Server, serving

#: The engines each database's ingest is measured with (RQ and Celery keep their queue
#: elsewhere; the events are in PostgreSQL, as a site running them would have them).
ENGINES = {
    "sqlite": ["db", "dbafter"],
    "postgres": ["db", "dbafter", "rq", "rqstock", "rqurl", "celery"],
}
#: The engines whose workers are timed (``rqsimple``: RQ's queue, SimpleWorker).
WORKER_ENGINES = {"sqlite": ["db"], "postgres": ["db", "rq", "rqsimple", "celery"]}
CODES = {
    "db": "TD",
    "dbafter": "TA",
    "rq": "TR",
    "rqurl": "TU",
    "rqstock": "TQ",
    "rqsimple": "TS",
    "celery": "TC",
    "discard": "TX",
}
BOTH = frozenset(("ingest", "workers"))
#: The latency runs' steady rate, as a share of the drain rate measured just before.
LOAD_SHARE = 0.5


def engines_for(db_engine: str, table: dict[str, list[str]] = ENGINES) -> list[str]:
    found = list(table[db_engine])
    if not ew.redis_available():
        log(f"no Redis at {ew.RQ_URL}: rq is left out")
        found = [e for e in found if not e.startswith("rq")]
    if not ew.RQ_ALT_URL and "rqurl" in found:
        found.remove("rqurl")  # needs its own Redis database
    if not ew.RQ_STOCK_URL and "rqstock" in found:
        found.remove("rqstock")  # likewise
    if "celery" in found and not ew.rabbitmq_available():
        log("no RabbitMQ at 127.0.0.1:5672: celery is left out")
        found.remove("celery")
    return found


def _task_target(run: Run, dbs: Databases, engine: str) -> Target:
    label = f"{dbs.engine}-task-{engine}"
    server = run.server(label, dbs.fresh(f"task{engine}"), "task", env=ew.engine_env(engine))
    return Target(server, "webhook", "/billing/webhook/", "app")


def ingest(run: Run, dbs: Databases, engines: list[str]) -> dict[str, Any]:
    """Task mode with each engine and with the discarding backend, against the floor."""
    log(f"engines/ingest on {dbs.engine}: {', '.join(engines)}, discard, floor")
    for engine in engines:
        ew.flush_queue(engine)
    timed = {CODES[e]: _task_target(run, dbs, e) for e in [*engines, "discard"]}
    floor_server = run.server(f"{dbs.engine}-floor", dbs.fresh("enginefloor"))
    timed["FL"] = Target(floor_server, "webhook", "/floor/webhook/", "floor")
    counting = {f"C{c}": run.counter(t, f"{t.label}-count") for c, t in timed.items()}
    counted, tallies = run.measure(
        timed, counting, tag=f"engines/{dbs.engine}", cap=run.scale.webhook_count, seed_base=5000
    )
    verified = run.verify_stored()
    summary = {timed[c].label: t.summary() for c, t in tallies.items()}
    for label, target in summary.items():
        target["verified"] = verified[label]
    floor = summary[timed["FL"].label]
    part: dict[str, Any] = {
        "targets": summary,
        "sql": {counting[c].label: counts for c, counts in counted.items()},
        "ratios": {},
        "round_ratios": {},
        "enqueued": {},
    }
    for engine in [*engines, "discard"]:
        code = CODES[engine]
        part["ratios"].update(ratios(summary[timed[code].label], floor, f"{engine}_"))
        part["round_ratios"][engine] = round_ratios(tallies[code], tallies["FL"])
        if engine != "discard":
            part["enqueued"][engine] = _check_enqueued(run, timed[code], engine)
    return part


def _check_enqueued(run: Run, target: Target, engine: str) -> dict[str, Any]:
    """Every stored event has its task in the engine (workers stopped: nothing ran)."""
    db = target.server.db
    stored = sum(ew.event_counts(db).values())
    queued = ew.queued_tasks(db, engine)
    queued["stored_events"] = stored
    queued["ok"] = queued["distinct_events"] == stored and queued["tasks"] >= stored
    run.check(queued["ok"], f"{target.label}: tasks {queued} for {stored} stored events")
    return queued


def _store_pending(run: Run, dbs: Databases, engine: str, role: str, count: int) -> Any:
    """A fresh database holding ``count`` pending events with their tasks, delivered
    through the endpoint (task mode, the engine's workers not running)."""
    db = dbs.fresh(role)
    ew.flush_queue(engine)
    server = Server(
        f"{dbs.engine}-{role}", db, "task", workers=run.scale.workers, env=ew.engine_env(engine)
    )
    with serving(server):
        target = Target(server, "webhook", "/billing/webhook/", "app")
        sent = load(
            target,
            count,
            run.scale,
            prefix=run.prefix(db, role.upper()[:4], "d"),
            seed=6000,
            seconds=600,
            duplicates=0,
        )
    run.check(sent["statuses"] == {"200": count}, f"{role}: answers {sent['statuses']}")
    counts, queued = ew.event_counts(db), ew.queued_tasks(db, engine)
    run.check(
        counts["pending"] == count == queued["tasks"] == queued["distinct_events"],
        f"{role}: {counts} stored, {queued} queued for {count} sent",
    )
    return db


def drain(run: Run, dbs: Databases, engine: str, workers: int) -> dict[str, Any]:
    """Events per second with ``workers`` workers, from a queue of ``drain_events``."""
    count = run.scale.drain_events
    role = f"drain{engine}{workers}"
    db = _store_pending(run, dbs, engine, role, count)
    log(f"engines/drain {dbs.engine} {engine}: {count} events, {workers} worker(s)")
    with ew.workers(engine, db, workers, {}) as processes:
        wall, counts = ew.wait_until_done(db, count, 120 + count / 2, processes)
    done, span = ew.processing_span(db)
    run.check(counts["failed"] == 0 and done == count, f"{role}: {counts}")
    rate = (done - 1) / span if span > 0 else 0.0
    result = {
        "events": count,
        "workers": workers,
        "counts": counts,
        "wall_seconds": wall,  # from the workers' start (their start-up included)
        "processing_seconds": span,  # first processed_at to the last
        "per_second": rate,
        "per_second_per_worker": rate / workers,
        "per_second_wall": count / wall,
    }
    log(f"  {rate:.0f} events/s ({rate / workers:.0f} per worker), {wall:.1f} s wall")
    return result


def latency(run: Run, dbs: Databases, engine: str, workers: int, rate: float) -> dict[str, Any]:
    """Send → receiver at a steady ``rate`` with ``workers`` workers running."""
    role = f"latency{engine}{workers}"
    db = dbs.fresh(role)
    ew.flush_queue(engine)
    received_log = OUT / f"received_{dbs.engine}_{role}.txt"
    received_log.unlink(missing_ok=True)
    env = {**ew.engine_env(engine), "BENCH_RECEIVED_LOG": str(received_log)}
    server = Server(f"{dbs.engine}-{role}", db, "task", workers=run.scale.workers, env=env)
    count = max(10, int(rate * run.scale.latency_seconds))
    warm = max(10, int(rate))
    log(f"engines/latency {dbs.engine} {engine}: {count} events at {rate:.0f}/s, {workers} w.")
    with serving(server), ew.workers(engine, db, workers, env) as processes:
        first = ew.paced_send(server.port, warm, rate, run.prefix(db, "LW", workers), 7000)
        ew.wait_until_done(db, warm, 120, processes)
        sent = ew.paced_send(server.port, count, rate, run.prefix(db, "LT", workers), 7001)
        ew.wait_until_done(db, warm + count, 120 + count / 2, processes)
    received = ew.received_times(received_log)
    summary = ew.latency_summary(sent["sent"], received)
    for name, batch in (("warm-up", first), ("steady load", sent)):
        run.check(set(batch["statuses"]) == {"200"}, f"{role} {name}: answers {batch['statuses']}")
    run.check(summary["received"] == count, f"{role}: {summary['received']} of {count} received")
    summary.update(
        workers=workers,
        rate=rate,
        achieved_rate=sent["achieved_rate"],
        late_share=sent["late_share"],
        counts=ew.event_counts(db),
    )
    log(f"  p50 {summary['p50_ms']:.0f} ms, p99 {summary['p99_ms']:.0f} ms")
    return summary


def engines_part(run: Run, dbs: Databases, only: frozenset[str] = BOTH) -> None:
    """The whole part on one database engine; results under ``engines_<database>``."""
    part: dict[str, Any] = run.results.setdefault(f"engines_{dbs.engine}", {})
    part["run_date"] = run.results.get("machine", {}).get("date", "?")
    if "ingest" in only:
        part.update(ingest(run, dbs, engines_for(dbs.engine)))
    part["load_share"] = LOAD_SHARE
    part["drain"], part["latency"] = {}, {}
    if "workers" not in only:
        return
    for engine in engines_for(dbs.engine, WORKER_ENGINES):
        # One engine's failure is a problem of the run, not the end of the others'.
        try:
            drained = {str(w): drain(run, dbs, engine, w) for w in (1, 2)}
            part["drain"][engine] = drained
            part["latency"][engine] = {
                w: latency(run, dbs, engine, int(w), LOAD_SHARE * d["per_second"])
                for w, d in drained.items()
            }
        except BenchBroken as exc:
            run.check(False, f"engines/{dbs.engine}/{engine}: {exc}")
            part["drain"].pop(engine, None)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--drain-events", type=int)
    parser.add_argument("--latency-seconds", type=float)
    parser.add_argument("--tag", default="engines")
    parser.add_argument(
        "--only", default="ingest,workers", help="ingest, workers (drain and latency), or both"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    base = SMOKE if args.smoke else FULL
    overrides = {
        "rounds": args.rounds,
        "drain_events": args.drain_events,
        "latency_seconds": args.latency_seconds,
    }
    scale = Scale(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})
    run = Run(scale, args.smoke)
    run.results["machine"] = machine()
    run.results["scale"] = asdict(scale)
    started = time.monotonic()
    db_engines = [e for e in args.engines.split(",") if e]
    if "postgres" in db_engines and not postgres_available():
        log("PostgreSQL is not reachable on 127.0.0.1:5432: SQLite only")
        db_engines.remove("postgres")
    try:
        for db_engine in db_engines:
            dbs = Databases(db_engine, args.tag)
            try:
                engines_part(run, dbs, frozenset(args.only.split(",")))
            except BenchBroken as exc:
                run.check(False, f"engines/{db_engine}: {exc}")
            finally:
                if not args.keep:
                    dbs.drop_all()
    finally:
        close_generator()
    run.results["problems"] = run.problems
    run.results["seconds"] = round(time.monotonic() - started, 1)
    run.results["machine"]["loadavg_at_end"] = open("/proc/loadavg").read().strip()
    destination = OUT if args.smoke else BENCH
    destination.mkdir(parents=True, exist_ok=True)
    out = destination / "engines_results.json"
    out.write_text(json.dumps(run.results, indent=1, default=str) + "\n")
    print("\n".join(engines_lines(run.results)))
    log(f"done in {run.results['seconds']} s; {len(run.problems)} problem(s); {out}")
    for problem in run.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if run.problems else 0


if __name__ == "__main__":
    sys.exit(main())
