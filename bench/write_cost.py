"""PostgreSQL's own work per webhook delivery, app (sync) against the floor, for two
schemas of the events table: figures that do not move with the machine's load.

    BENCH_PG_PREFIX=idx python bench/write_cost.py [--deliveries 2000] [--before 0010_…]

For each schema (every migration applied, and the app migrated back to ``--before``),
a fresh database gets the bench's mix of real-shaped deliveries through Django's test
client (the real views, sync mode, each delivery committed), then prints per delivery:

- the server process's CPU time (``/proc/<backend pid>/stat``: parse, plan, execute,
  WAL insertion, commit; not the wait for the disk);
- the WAL its statements write (``EXPLAIN (ANALYZE, WAL)`` of each statement of a
  sample of deliveries, replayed in transactions that are rolled back: this
  backend's own records, whatever else the server is doing; the commit record, the
  same for both, is left out);
- the index entries it added, per index of the events table (the rows each holds).

The floor's table has only its unique key; both paths run in the same process and
database, interleaved in blocks, so what differs between the two schemas is the events
table's indexes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
EVENTS = "django_stripe_portal_webhookevent"
FLOOR = "benchproject_floorevent"
BLOCK = 100  # deliveries per interleaved block


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def measure(deliveries: int) -> dict[str, Any]:
    """Run inside a process whose environment names the database (see ``main``)."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")
    import django

    django.setup()
    import payloads
    from django.db import connection
    from django.test import Client

    secret = "whsec_bench"
    rng = random.Random(7)
    kinds = [name for name, weight in payloads.MIX for _ in range(weight)]
    client = Client()
    sent = 0
    run = secrets.token_hex(3)  # ids of their own, should the database be used again

    def deliver(path: str, count: int, tag: str) -> None:
        nonlocal sent
        for _ in range(count):
            sent += 1
            kind = rng.choice(kinds)
            body = json.dumps(
                payloads.build_event(
                    kind, f"evt_{run}{tag}{sent:07d}", payloads.recent_time() + sent, rng
                )
            ).encode()
            response = client.post(
                path,
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=payloads.sign(body, secret),
            )
            assert response.status_code == 200, response.status_code

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    deliver("/billing/webhook/", 200, "warm")
    deliver("/floor/webhook/", 200, "warm")
    paths = {"app": "/billing/webhook/", "floor": "/floor/webhook/"}
    ticks = dict.fromkeys(paths, 0)
    tables = {"app": EVENTS, "floor": FLOOR}
    before_rows = {name: _rows(connection, table) for name, table in tables.items()}
    before_indexes = _index_entries(connection)
    for block in range(deliveries // BLOCK):
        order = ("app", "floor") if block % 2 == 0 else ("floor", "app")
        for name in order:
            started = _ticks(pid)
            deliver(paths[name], BLOCK, name)
            ticks[name] += _ticks(pid) - started
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    stored = {name: _rows(connection, t) - before_rows[name] for name, t in tables.items()}
    after_indexes = _index_entries(connection)
    wal = {name: _wal(deliver, path, max(deliveries // 10, 50)) for name, path in paths.items()}
    return {
        "deliveries": deliveries,
        "stored": stored,
        "server_cpu_ms": {name: ticks[name] * tick_ms / deliveries for name in paths},
        "wal": wal,
        "index_entries": {
            name: (after_indexes[name] - before_indexes.get(name, 0)) / stored["app"]
            for name in after_indexes
        },
    }


def _rows(connection: Any, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
        return int(cursor.fetchone()[0])


def _index_entries(connection: Any) -> dict[str, int]:
    """The rows each index of the events table holds (its predicate's, when partial)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
            [EVENTS],
        )
        indexes = cursor.fetchall()
        entries = {}
        for name, predicate in indexes:
            where = f" WHERE {predicate}" if predicate else ""
            cursor.execute(f"SELECT count(*) FROM {EVENTS}{where}")  # noqa: S608
            entries[name] = int(cursor.fetchone()[0])
    return entries


class _Rollback(Exception):
    pass


def _wal(deliver: Any, path: str, count: int) -> dict[str, float]:
    """WAL records, bytes and full-page images per delivery: ``count`` deliveries are made
    and rolled back, then each of their writing statements is run again under
    ``EXPLAIN (ANALYZE, WAL)`` and rolled back (the database is left as it was)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    totals = {"WAL Records": 0, "WAL Bytes": 0, "WAL FPI": 0}
    for _ in range(count):
        try:
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                deliver(path, 1, "wal")
                raise _Rollback
        except _Rollback:
            pass
        writes = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].lstrip().startswith(("INSERT", "UPDATE", "DELETE"))
        ]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for sql in writes:
                    cursor.execute(f"EXPLAIN (ANALYZE, WAL, FORMAT JSON) {sql}")
                    plan = cursor.fetchone()[0][0]["Plan"]
                    for key in totals:
                        totals[key] += plan.get(key, 0)
                raise _Rollback
        except _Rollback:
            pass
    return {key.removeprefix("WAL ").lower(): value / count for key, value in totals.items()}


def _fresh(name: str, before: str | None) -> dict[str, str]:
    import psycopg

    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    env = {**os.environ, "BENCH_DB": "postgres", "BENCH_DB_NAME": name, "BENCH_PROCESSING": "sync"}
    tool = [sys.executable, str(BENCH / "djtool.py"), "migrate"]
    subprocess.run(tool, env=env, check=True, stdout=subprocess.DEVNULL)
    if before:
        manage = [sys.executable, "-c", _MIGRATE_BACK, before]
        subprocess.run(manage, env=env, check=True, cwd=BENCH)
    return env


_MIGRATE_BACK = """
import os, sys
sys.path[:0] = ['.', '..']
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'benchproject.settings')
import django
django.setup()
from django.core.management import call_command
call_command('migrate', 'django_stripe_portal', sys.argv[1], verbosity=0)
"""


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        print(json.dumps(measure(int(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="per path and schema")
    parser.add_argument(
        "--before",
        default="0010_covering_run_rate",
        help="the app's migration the 'before' schema is migrated back to ('' to skip)",
    )
    args = parser.parse_args()
    schemas = {"after (every migration)": None}
    if args.before:
        schemas = {f"before (at {args.before})": args.before, **schemas}
    for label, before in schemas.items():
        name = f"{PREFIX}_write_cost"
        env = _fresh(name, before)
        out = subprocess.run(
            [sys.executable, __file__, "--inside", str(args.deliveries)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n{label}: {result['deliveries']} deliveries per path, stored {result['stored']}")
        cpu, wal = result["server_cpu_ms"], result["wal"]
        print(
            f"  server CPU per delivery: app {cpu['app']:.3f} ms, floor {cpu['floor']:.3f} ms "
            f"(app/floor {cpu['app'] / cpu['floor']:.2f})"
        )
        for name, figures in wal.items():
            print(
                f"  WAL per delivery, {name}: {figures['records']:.2f} records, "
                f"{figures['bytes']:.0f} bytes, {figures['fpi']:.2f} full-page images"
            )
        entries = result["index_entries"]
        print(f"  index entries per stored event: {sum(entries.values()):.2f} in all")
        for index, per in sorted(entries.items()):
            print(f"    {index}: {per:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
