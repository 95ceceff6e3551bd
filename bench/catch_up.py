"""Catch-up benchmark: events per second through ``manage.py fetch_stripe_events``.

    .venv/bin/python bench/catch_up.py                  # 10,000 events, SQLite and PostgreSQL
    .venv/bin/python bench/catch_up.py --smoke          # 300 events, every request validated
    .venv/bin/python bench/run.py --parts catchup       # the same, from the bench runner

A stub of ``GET /v1/events`` (this file with ``--serve``, its own process, keep-alive)
lists N real-shaped events (``bench/payloads.py``: subscription updates, deletions,
portal sessions, customer and payment-method changes over 1,000 customers) newest
first, 100 a page, as Stripe does. The command runs in a process of the bench project
(``bench/benchproject``: sync mode, one no-op receiver on every signal) on an empty
database, so every event is new: listed, stored, state written, dispatched. A second
run then finds every event already stored (the listing and one lookup per page).

Reported per engine: events/s of the first run and of the second, the process's
peak RSS growth, and checks that fail the run: every event stored exactly once,
``received_via="events_api"``, and (``--smoke``) no request the stub finds invalid.
PostgreSQL: a database of its own (``bench_catchup``, or ``--pg-database``;
``BENCH_PG_PREFIX`` replaces ``bench``), dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = os.environ.get("BENCH_PG_PREFIX", "bench") + "_catchup"  # as scale.PG_PREFIX
FULL_EVENTS = 10_000
SMOKE_EVENTS = 300
WINDOW_HOURS = 24


# ---------------------------------------------------------------- the stub (--serve)


def _stub_events(count: int, seed: int) -> tuple[list[int], list[str], list[str], list[str]]:
    """(created, id, type, JSON text) of ``count`` events, oldest first, over the last 20 hours."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    import payloads

    rng = random.Random(seed)
    kinds = [kind for kind, _ in payloads.MIX]
    weights = [weight for _, weight in payloads.MIX]
    start = int(time.time()) - 20 * 3600
    created, ids, types, bodies = [], [], [], []
    for index in range(count):
        event_id = f"evt_catchup{seed:03d}{index:07d}"
        when = start + index * 72_000 // count
        event = payloads.build_event(rng.choices(kinds, weights)[0], event_id, when, rng)
        event["pending_webhooks"] = 1
        created.append(when)
        ids.append(event_id)
        types.append(event["type"])
        bodies.append(json.dumps(event))
    return created, ids, types, bodies


def serve(port: int, count: int, seed: int, validate: bool) -> None:
    server = make_stub(port, count, seed, validate)
    print(f"stub listening on {port}", flush=True)
    server.serve_forever()


def make_stub(port: int, count: int, seed: int, validate: bool) -> ThreadingHTTPServer:
    """The Events API stub, not started (``/__stats``: requests, invalid, listed)."""
    created, ids, event_types, bodies = _stub_events(count, seed)
    newest_first = list(range(count))[::-1]
    place = {ids[index]: rank for rank, index in enumerate(newest_first)}
    stats = {"requests": 0, "invalid": 0, "listed": 0}
    lock = threading.Lock()
    contract = None
    if validate:
        from tests import contract as contract_module

        contract = contract_module if contract_module.available() else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_catchup")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            if split.path == "/__stats":
                with lock:
                    self._send(200, json.dumps(stats))
                return
            if split.path != "/v1/events":
                self._send(404, '{"error": {"type": "invalid_request_error"}}')
                return
            invalid = False
            if contract is not None:
                try:
                    contract.validate_request("GET", self.path, None)
                except Exception:
                    invalid = True
            query = dict(parse_qsl(split.query))
            limit = int(query.get("limit", 10))
            gte = int(query.get("created[gte]", 0))
            types = {value for key, value in query.items() if key.startswith("types[")}
            invalid = invalid or len(types) > 20 or not 1 <= limit <= 100
            rank = place[query["starting_after"]] + 1 if "starting_after" in query else 0
            page: list[int] = []
            while rank < count and len(page) <= limit:
                index = newest_first[rank]
                rank += 1
                if created[index] < gte:
                    break  # newest first: everything further is older still
                if not types or event_types[index] in types:
                    page.append(index)
            has_more = len(page) > limit
            page = page[:limit]
            with lock:
                stats["requests"] += 1
                stats["invalid"] += invalid
                stats["listed"] += len(page)
            data = ",".join(bodies[index] for index in page)
            self._send(
                200,
                f'{{"object":"list","url":"/v1/events","has_more":{json.dumps(has_more)},'
                f'"data":[{data}]}}',
            )

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


# ---------------------------------------------------------------- one engine (--measure)


def measure(count: int) -> dict[str, Any]:
    """Inside the bench project: migrate, then time two runs of the command."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")
    import django

    django.setup()
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection

    from django_stripe_portal.models import WebhookEvent

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    runs = []
    load_average = os.getloadavg()[0]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for run in range(2):
        out, err = StringIO(), StringIO()
        started = time.perf_counter()
        call_command("fetch_stripe_events", "--hours", str(WINDOW_HOURS), stdout=out, stderr=err)
        seconds = time.perf_counter() - started
        runs.append(
            {
                "seconds": round(seconds, 3),
                "events_per_second": round(count / seconds, 1),
                "summary": out.getvalue().strip().splitlines()[-1],
            }
        )
        if run == 0:  # the peak of the run that keeps every event (all are new)
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    floor_seconds = _floor(count)  # after: its own listing would hide the app's peak
    stored = WebhookEvent.objects.count()
    via = sorted(set(WebhookEvent.objects.values_list("received_via", flat=True)))
    return {
        "engine": connection.vendor,
        "events": count,
        "load_average_at_start": round(load_average, 2),
        "floor": {
            "seconds": round(floor_seconds, 3),
            "events_per_second": round(count / floor_seconds, 1),
        },
        "first_run_over_floor": round(floor_seconds / runs[0]["seconds"], 2),
        "first_run": runs[0],
        "second_run": runs[1],
        "peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
        "stored": stored,
        "received_via": via,
    }


def _floor(count: int) -> float:
    """The least any catch-up must do: list every page (the same client, the same
    pages), then insert each event once, oldest first, one statement in autocommit each
    (as the webhook bench's floor does)."""
    from benchproject.floor import _insert_sql
    from django.db import connection

    from django_stripe_portal.client import get_client

    started = time.perf_counter()
    client = get_client()
    events: list[str] = []
    params: dict[str, Any] = {"limit": 100, "created": {"gte": int(time.time()) - 86400}}
    while True:
        page = client.raw_request("get", "/v1/events", **params).data
        events += [json.dumps(event) for event in page["data"]]
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    sql = _insert_sql(connection.vendor)
    with connection.cursor() as cursor:
        for body in reversed(events):
            event = json.loads(body)
            cursor.execute(sql, [event["id"], event["type"], body])
    seconds = time.perf_counter() - started
    if len(events) != count:
        raise RuntimeError(f"the floor listed {len(events)} events, not {count}")
    return seconds


# ---------------------------------------------------------------- the runner


def _pg(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stub_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def run_engine(engine: str, count: int, *, stub_port: int, pg_database: str, keep: bool) -> Any:
    env = dict(os.environ, BENCH_DB=engine, BENCH_STRIPE_API=f"http://127.0.0.1:{stub_port}")
    env.pop("DATABASE_URL", None)
    if engine == "postgres":
        _pg(
            f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)',
            f'CREATE DATABASE "{pg_database}"',
        )
        env["BENCH_DB_NAME"] = pg_database
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / "catchup.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        env["BENCH_DB_NAME"] = str(path)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--measure", f"--events={count}"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if engine == "postgres" and not keep:
            _pg(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
    if done.returncode != 0:
        raise RuntimeError(f"catch-up on {engine} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def problems_of(result: dict[str, Any]) -> list[str]:
    count = result["events"]
    problems = []
    if result["stored"] != count:
        problems.append(f"{result['engine']}: {result['stored']} stored, not {count}")
    if result["received_via"] != ["events_api"]:
        problems.append(f"{result['engine']}: received_via {result['received_via']}")
    if f"{count:,} new, 0 already stored, 0 failed" not in result["first_run"]["summary"]:
        problems.append(f"{result['engine']}: first run said {result['first_run']['summary']}")
    if f"0 new, {count:,} already stored, 0 failed" not in result["second_run"]["summary"]:
        problems.append(f"{result['engine']}: second run said {result['second_run']['summary']}")
    return problems


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| database | events | floor (list + one insert each) | fetch_stripe_events, all new "
        "| / floor | again, all stored | peak RSS growth |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        first, second = result["first_run"], result["second_run"]
        floor = result["floor"]
        lines.append(
            f"| {result['engine']} | {result['events']:,} | "
            f"{floor['events_per_second']:,.0f} events/s ({floor['seconds']:.1f} s) | "
            f"{first['events_per_second']:,.0f} events/s ({first['seconds']:.1f} s) | "
            f"{result['first_run_over_floor']:.2f} | "
            f"{second['events_per_second']:,.0f} events/s ({second['seconds']:.1f} s) | "
            f"{result['peak_rss_growth_mb']:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


def bench(
    engines: list[str], *, smoke: bool, pg_database: str = PG_DATABASE, keep: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every engine against one stub; (results, problems)."""
    count = SMOKE_EVENTS if smoke else FULL_EVENTS
    port = _free_port()
    stub = subprocess.Popen(
        [sys.executable, __file__, f"--serve={port}", f"--events={count}"]
        + (["--validate"] if smoke else []),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    results, problems = [], []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _stub_stats(port)
                break
            except OSError:
                if time.monotonic() > deadline or stub.poll() is not None:
                    raise RuntimeError("the Events API stub did not start") from None
                time.sleep(0.2)
        for engine in engines:
            result = run_engine(engine, count, stub_port=port, pg_database=pg_database, keep=keep)
            results.append(result)
            problems += problems_of(result)
        stats = _stub_stats(port)
        if stats["invalid"]:
            problems.append(f"{stats['invalid']} request(s) the stub found invalid")
    finally:
        stub.terminate()
        stub.wait()
    _save(OUT if smoke else BENCH, results)
    return results, problems


def _save(destination: Path, results: list[dict[str, Any]]) -> None:
    """Into ``catchup_results.json``, replacing the engines measured, keeping the others
    (and the file's other keys: the figures before a change, earlier runs)."""
    destination.mkdir(parents=True, exist_ok=True)
    path = destination / "catchup_results.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    kept = saved.get("results", [])
    measured = {result["engine"] for result in results}
    date = time.strftime("%Y-%m-%d")
    merged = [r for r in kept if r["engine"] not in measured] + [
        {**result, "date": date} for result in results
    ]
    path.write_text(json.dumps({**saved, "results": merged}, indent=1) + "\n")


def run_part(engine: str, *, smoke: bool) -> bool:
    """The ``catchup`` part of ``bench/run.py`` (one engine); True when nothing broke."""
    results, problems = bench([engine], smoke=smoke)
    print(markdown(results), flush=True)
    for problem in problems:
        print(f"PROBLEM: catchup: {problem}", file=sys.stderr)
    return not problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--pg-database", default=PG_DATABASE)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--validate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        sys.path[:0] = [str(ROOT)]
        serve(args.serve, args.events, seed=1, validate=args.validate)
        return 0
    if args.measure:
        print(json.dumps(measure(args.events)))
        return 0
    engines = [engine for engine in args.engines.split(",") if engine]
    results, problems = bench(
        engines, smoke=args.smoke, pg_database=args.pg_database, keep=args.keep
    )
    print(markdown(results))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
