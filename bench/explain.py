"""The query plan of every statement one delivery of each kind runs, on a big table.

    BENCH_DB=sqlite BENCH_DB_NAME=bench/out/bench_preload_1000000.sqlite3 \\
        python bench/explain.py > bench/explain_sqlite.txt
    BENCH_DB=postgres BENCH_DB_NAME=bench_preload_1000000 python bench/explain.py

Runs each delivery through the app inside a transaction that is rolled back (the
database is left as it was), records the statements, and prints ``EXPLAIN`` of
each one: growth is flat only if none of them scans a table.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")

import django  # noqa: E402

django.setup()

import payloads  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


class _Rollback(Exception):
    pass


def _statements(kind: str, rng: random.Random) -> list[str]:
    event = payloads.build_event(
        kind, f"evt_explain{rng.randrange(10**9)}", payloads.recent_time(), rng
    )
    body = json.dumps(event).encode()
    client = Client()
    with CaptureQueriesContext(connection) as captured:
        try:
            with transaction.atomic():
                response = client.post(
                    "/billing/webhook/",
                    body,
                    content_type="application/json",
                    HTTP_STRIPE_SIGNATURE=payloads.sign(body, "whsec_bench"),
                )
                assert response.status_code == 200, response.status_code
                raise _Rollback
        except _Rollback:
            pass
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(_CONTROL)]


def _plan(sql: str) -> str:
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        rows = cursor.fetchall()
    return "\n".join("    " + " ".join(str(c) for c in row) for row in rows)


def main() -> None:
    rng = random.Random(5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_stripe_portal_webhookevent")
        (stored,) = cursor.fetchone()
    print(f"{connection.vendor}: {stored:,} events stored")
    for kind, _ in payloads.MIX:
        print(f"\n== {kind}")
        for sql in _statements(kind, rng):
            shown = sql if len(sql) < 300 else sql[:140] + " … " + sql[-140:]
            print(f"  {shown}")
            print(_plan(sql))


if __name__ == "__main__":
    main()
