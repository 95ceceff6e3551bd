"""CPU per sync webhook delivery on PostgreSQL with and without prepared statements: the
app with ``prepare_threshold`` None (Django's default) and 5, and the floor, in
interleaved blocks of one process on one connection, so all three see the same machine.

    BENCH_PG_PREFIX=prep python bench/prepare_cost.py [--deliveries 3000]

Per delivery: the process's CPU (the view through Django's test client: the worker's
share) and the server process's (``/proc/<backend pid>/stat``: parse, plan, execute,
commit; not the wait for the disk). Figures that move little with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from write_cost import _fresh, _ticks

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")
BLOCK = 100  # deliveries per interleaved block
#: Each target: its path and the connection's prepare_threshold while it runs.
TARGETS = {
    "app, prepare_threshold None": ("/billing/webhook/", None),
    "app, prepare_threshold 5": ("/billing/webhook/", 5),
    "floor": ("/floor/webhook/", None),
}


def measure(deliveries: int) -> dict[str, dict[str, float]]:
    """Run inside a process whose environment names the database (see ``main``)."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")
    import django

    django.setup()
    import payloads
    from django.db import connection
    from django.test import Client

    rng = random.Random(11)
    kinds = [name for name, weight in payloads.MIX for _ in range(weight)]
    client = Client()
    run, sent = secrets.token_hex(3), 0

    def deliver(path: str, count: int) -> None:
        nonlocal sent
        for _ in range(count):
            sent += 1
            event = payloads.build_event(
                rng.choice(kinds), f"evt_{run}{sent:07d}", payloads.recent_time() + sent, rng
            )
            body = json.dumps(event).encode()
            signature = payloads.sign(body, "whsec_bench")
            response = client.post(
                path, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
            )
            assert response.status_code == 200, response.status_code

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    raw: Any = connection.connection
    for path, threshold in TARGETS.values():  # warm-up, statements prepared where they are
        raw.prepare_threshold = threshold
        deliver(path, 200)
    spent = {name: [0.0, 0] for name in TARGETS}
    names = list(TARGETS)
    for block in range(deliveries // BLOCK):
        for name in names if block % 2 == 0 else names[::-1]:
            path, raw.prepare_threshold = TARGETS[name]
            cpu, ticks = time.process_time(), _ticks(pid)
            deliver(path, BLOCK)
            spent[name][0] += time.process_time() - cpu
            spent[name][1] += _ticks(pid) - ticks
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    count = deliveries // BLOCK * BLOCK
    return {
        name: {"client_ms": cpu * 1000 / count, "server_ms": ticks * tick_ms / count}
        for name, (cpu, ticks) in spent.items()
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        print(json.dumps(measure(int(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=3000, help="per target")
    args = parser.parse_args()
    env = _fresh(f"{PREFIX}_prepare_cost", None)
    out = subprocess.run(
        [sys.executable, __file__, "--inside", str(args.deliveries)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"CPU per sync delivery ({args.deliveries} per target, interleaved blocks of {BLOCK}):")
    for name, figures in result.items():
        total = figures["client_ms"] + figures["server_ms"]
        print(
            f"  {name}: worker {figures['client_ms']:.3f} ms, "
            f"PostgreSQL {figures['server_ms']:.3f} ms, together {total:.3f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
