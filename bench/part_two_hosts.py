"""Two hosts, one database (part ``two_hosts``): what a site gets when it scales out.

Each "host" is a gunicorn (2 sync workers, its own port) and a group of 2 engine
workers (django-tasks-db's ``db_worker`` by default), all on one PostgreSQL database;
a recovery sweep runs from each host (``manage.py recover_stripe_events`` back to back,
``WEBHOOK_STUCK_AFTER`` of ``--stuck-after`` seconds). The load: ``--events`` deliveries
(about 5% redeliveries of an event sent earlier), delivery *i* to host *i mod 2*, so a
redelivery reaches either host, from 4 threads per host as fast as answered. When
``--kill-at`` of them are answered, host A's worker group is SIGKILLed whole (every
process of it: a host lost), and restarted ``--restart-after`` seconds later.

Checked: every answer 200; each event stored once and processed (0 lost); each
dispatch committed once (a receiver notes every dispatch once its transaction commits,
``BENCH_COMMITTED_LOG``) and no event with a second attempt (0 dispatched twice).
Measured: the time from the kill until nothing is pending (the drain after the kill),
how many events the sweeps took up, the ingest and drain rates.

    python bench/part_two_hosts.py [--smoke] [--events N] [--engine db]

writes ``bench/two_hosts_results.json`` (a smoke run: ``bench/out/``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

import engine_workers as ew
import payloads
from databases import Databases, postgres_available
from report import machine
from scale import BENCH, OUT, PYTHON, ROOT, log
from servers import Server, serving

THREADS_PER_HOST = 4
HOSTS = ("a", "b")


class Sweeper:
    """The recovery sweep from one host: the command, run again as soon as it exits."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.env, self.name = env, name
        self.runs: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            done = subprocess.run(
                [PYTHON, "-m", "django", "recover_stripe_events"],
                env=self.env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            self.runs.append((done.stdout + done.stderr).strip())

    def took_up(self) -> int:
        """Events the sweeps of this host dispatched."""
        total = 0
        for run in self.runs:
            for part in run.replace(":", ",").split(","):
                words = part.split()
                if len(words) == 2 and words[1].rstrip(".") == "processed":
                    total += int(words[0])
        return total


def send(ports: dict[str, int], batch: list[Any], kill_at: int, on_kill: Any) -> dict[str, Any]:
    """Every delivery of ``batch``, delivery *i* to host *i mod 2*; ``on_kill`` runs once
    ``kill_at`` deliveries have been answered."""
    statuses: Counter[int] = Counter()
    answered = 0
    lock = threading.Lock()
    fired = threading.Event()

    def client(host_index: int, first: int) -> None:
        nonlocal answered
        port = ports[HOSTS[host_index]]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(first, len(batch), 2 * THREADS_PER_HOST):
            delivery = batch[i]
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": payloads.sign(delivery.body, ew.WEBHOOK_SECRET),
            }
            try:
                conn.request("POST", "/billing/webhook/", body=delivery.body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            with lock:
                statuses[status] += 1
                answered += 1
                fire = answered >= kill_at and not fired.is_set()
                if fire:
                    fired.set()
            if fire:
                on_kill()
        conn.close()

    # Thread t sends deliveries t, t + 8, t + 16 …; even ones go to host a, odd to b.
    threads = [
        threading.Thread(target=client, args=(t % 2, t)) for t in range(2 * THREADS_PER_HOST)
    ]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - start
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": seconds,
        "per_second": len(batch) / seconds,
    }


def run_two_hosts(args: argparse.Namespace) -> dict[str, Any]:
    dbs = Databases("postgres", args.tag)
    db = dbs.fresh("twohosts")
    ew.flush_queue(args.engine)
    committed_log = OUT / "two_hosts_committed.txt"
    committed_log.unlink(missing_ok=True)
    env = {
        **ew.engine_env(args.engine),
        "BENCH_COMMITTED_LOG": str(committed_log),
        "BENCH_STUCK_AFTER": str(args.stuck_after),
    }
    batch = payloads.deliveries(args.events, prefix="evt_2h", duplicate_share=0.05, seed=2323)
    unique = {d.event_id for d in batch}
    servers = [Server(f"twohosts-{h}", db, "task", workers=2, env=env) for h in HOSTS]
    result: dict[str, Any] = {
        "engine": args.engine,
        "events": args.events,
        "unique_events": len(unique),
        "redeliveries": args.events - len(unique),
        "stuck_after": args.stuck_after,
        "workers_per_host": args.workers,
    }
    try:
        with ExitStack() as stack:
            stack.enter_context(serving(*servers))
            groups = {
                h: stack.enter_context(ew.workers(args.engine, db, args.workers, env, f"_{h}"))
                for h in HOSTS
            }
            sweepers = [Sweeper(ew.worker_env(args.engine, db, env), h) for h in HOSTS]
            for sweeper in sweepers:
                sweeper.thread.start()
            stack.callback(lambda: [s.stopped.set() for s in sweepers])
            restarted = stack.enter_context(ExitStack())  # closed before the rest
            restarter: list[threading.Thread] = []
            kill = {"at": 0.0}

            def kill_host_a() -> None:
                kill["at"] = time.monotonic()
                counts = ew.event_counts(db)
                for process in groups["a"]:
                    os.killpg(process.pid, signal.SIGKILL)
                result["at_kill"] = counts
                log(f"two_hosts: host a's workers SIGKILLed ({counts})")

                def restart() -> None:
                    time.sleep(args.restart_after)
                    groups["a"] = restarted.enter_context(
                        ew.workers(args.engine, db, args.workers, env, "_a_again")
                    )
                    log("two_hosts: host a's workers restarted")

                restarter.append(threading.Thread(target=restart, daemon=True))
                restarter[0].start()

            log(f"two_hosts: {args.events} deliveries to 2 hosts, {args.engine} workers")
            result["ingest"] = send(
                {h: s.port for h, s in zip(HOSTS, servers, strict=True)},
                batch,
                int(args.events * args.kill_at),
                kill_host_a,
            )
            last_answer = time.monotonic()
            drained = wait_drained(db, len(unique), args.timeout)
            result["drain_after_kill_seconds"] = drained - kill["at"]
            result["drained_seconds_after_last_answer"] = drained - last_answer
            for thread in restarter:
                thread.join()
            for sweeper in sweepers:
                sweeper.stopped.set()
            for sweeper in sweepers:
                sweeper.thread.join(timeout=600)
            result["sweeps"] = {
                s.name: {"runs": len(s.runs), "took_up": s.took_up()} for s in sweepers
            }
    finally:
        result.update(check(db, unique, committed_log))
        if not args.keep:
            dbs.drop_all()
    return result


def wait_drained(db: Any, expected: int, timeout: float) -> float:
    """Poll until ``expected`` events are processed and none is pending; when."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        counts = ew.event_counts(db)
        if counts["processed"] + counts["ignored"] >= expected and counts["pending"] == 0:
            return time.monotonic()
        time.sleep(0.1)
    raise RuntimeError(f"not drained after {timeout:.0f} s: {ew.event_counts(db)}")


def check(db: Any, unique: set[str], committed_log: Any) -> dict[str, Any]:
    counts = ew.event_counts(db)
    (second_attempts,) = ew.query(
        db,
        f"SELECT count(*) FROM {ew.EVENTS_TABLE} WHERE attempts > 1",  # noqa: S608
    )
    committed = (
        Counter(line.split()[0] for line in committed_log.read_text().splitlines())
        if committed_log.exists()
        else Counter()
    )
    stored = sum(counts.values())
    return {
        "counts": counts,
        "stored": stored,
        "lost": len(unique) - counts["processed"] - counts["ignored"],
        "stored_twice": stored - len(unique),
        "dispatched_twice": sum(1 for n in committed.values() if n > 1),
        "dispatches_committed": sum(committed.values()),
        "events_without_a_committed_dispatch": len(unique - set(committed)),
        "second_attempts": int(second_attempts),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--engine", default="db", choices=["db", "rqsimple", "rq", "celery"])
    parser.add_argument("--workers", type=int, default=2, help="engine workers per host")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of deliveries")
    parser.add_argument("--restart-after", type=float, default=5.0)
    parser.add_argument("--stuck-after", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--tag", default="twohosts")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.events is None:
        args.events = 400 if args.smoke else 20_000
    if args.smoke:
        args.stuck_after = min(args.stuck_after, 3)
        args.restart_after = min(args.restart_after, 1.0)
    if not postgres_available():
        log("two_hosts needs PostgreSQL on 127.0.0.1:5432")
        return 1
    results: dict[str, Any] = {"machine": machine()}
    started = time.monotonic()
    results["two_hosts"] = run = run_two_hosts(args)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = open("/proc/loadavg").read().strip()
    problems = [
        f"{name}: {run[name]}"
        for name in ("lost", "stored_twice", "dispatched_twice", "second_attempts")
        if run[name]
    ]
    if run["ingest"]["statuses"] != {"200": args.events}:
        problems.append(f"answers: {run['ingest']['statuses']}")
    results["problems"] = problems
    destination = OUT if args.smoke else BENCH
    destination.mkdir(parents=True, exist_ok=True)
    out = destination / "two_hosts_results.json"
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    log(
        f"two_hosts: {args.events} deliveries at {run['ingest']['per_second']:.0f}/s; lost "
        f"{run['lost']}, dispatched twice {run['dispatched_twice']}, second attempts "
        f"{run['second_attempts']}; drained {run['drain_after_kill_seconds']:.1f} s after "
        f"the kill; sweeps {run['sweeps']}; {out}"
    )
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
