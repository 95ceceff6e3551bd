"""Benchmark of ``prune_stripe_events`` at scale, beside live deliveries (PostgreSQL).

    DATABASE_URL=postgres://… .venv/bin/python bench/prune.py --events 2000000
    DATABASE_URL=postgres://… .venv/bin/python bench/prune.py --smoke

Creates its own database (``<BENCH_PG_PREFIX>_prune``), COPYs ``--events`` processed
webhook events with real-shaped payloads (``bench/payloads.py``'s subscription, customer
and payment-method events, about 2 to 4 KB of JSON each, as Stripe sends them) spread over
``--days`` days, runs ``VACUUM ANALYZE``, then interleaves ``--rounds`` pairs of rounds:

* *quiet*: ``--deliveries`` signed deliveries through the webhook view (Django's test
  client, in this process), nothing else running;
* *pruning*: the same number of deliveries while a separate process runs
  ``prune_stripe_events``'s batches over the next 1/rounds of the table (by age).

It prints the prune's rows/s (all rounds together) and the deliveries' median time in
both kinds of round, with their ratio, and the machine's load (``uptime``). The database
is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import activity  # noqa: E402  (the COPY loader and the database helpers)
import payloads  # noqa: E402

_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")
BENCH_DATABASE = f"{_PREFIX}_prune"
#: Templates per kind: a payload is built once per kind and its ids and time replaced.
TEMPLATES = 64


def main() -> int:
    args = _parse_args()
    if args.smoke:
        args.events, args.deliveries, args.rounds = 20_000, 40, 2
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench/prune.py needs a PostgreSQL DATABASE_URL.")
        return 2
    database = f"{BENCH_DATABASE}_smoke" if args.smoke else BENCH_DATABASE
    if args.reuse:
        os.environ["DATABASE_URL"] = activity._server_url(url, database)
    else:
        os.environ["DATABASE_URL"] = activity._create_database(url, database)
    try:
        _run(args)
    finally:
        if not args.keep and not args.reuse:
            from django.db import connections

            connections.close_all()
            activity._drop_database(url, database)
    return 0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=730, help="history the events spread over")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of quiet/pruning rounds")
    parser.add_argument("--deliveries", type=int, default=300, help="deliveries per round")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept, loaded database")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: does it run at all")
    parser.add_argument("--seed", type=int, default=23)
    return parser.parse_args()


def _run(args: argparse.Namespace) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    version = ".".join(map(str, connection.get_database_version()))
    print(f"database: {connection.vendor} {version}, {os.cpu_count()} CPU cores")
    print(f"load before: {activity._load_average()}")
    now = dt.datetime.now(dt.UTC)
    if not args.reuse:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        _load(args, now)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"load + vacuum analyze: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('django_stripe_portal_webhookevent')")
        print(f"event table with TOAST and indexes: {cursor.fetchone()[0] / 2**20:.0f} MiB")
    _measure(args, now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('django_stripe_portal_webhookevent')")
        print(f"after the prune (before VACUUM): {cursor.fetchone()[0] / 2**20:.0f} MiB")
    print(f"load after: {activity._load_average()}")


def _templates(rng: random.Random) -> list[str]:
    kinds = [kind for kind, _ in payloads.MIX]
    weights = [weight for _, weight in payloads.MIX]
    found = []
    for _ in range(TEMPLATES):
        kind = rng.choices(kinds, weights)[0]
        event = payloads.build_event(kind, "evt_TEMPLATEID000000", 1_700_000_000, rng)
        found.append(json.dumps(event))
    return found


def _load(args: argparse.Namespace, now: dt.datetime) -> None:
    from django_stripe_portal.models import WebhookEvent

    rng = random.Random(args.seed)
    templates = _templates(rng)
    span = args.days * 86400
    start = now - dt.timedelta(seconds=span)
    sizes = [len(text) for text in templates]
    print(f"payloads: {min(sizes)} to {max(sizes)} bytes, mean {statistics.mean(sizes):.0f}")

    types = [json.loads(text)["type"] for text in templates]

    def events() -> Iterator[dict[str, Any]]:
        for number in range(1, args.events + 1):
            created = start + dt.timedelta(seconds=span * number / (args.events + 1))
            stripe_id = f"evt_prune{number:010d}"
            text = templates[number % TEMPLATES].replace("evt_TEMPLATEID000000", stripe_id)
            yield {
                "id": number,
                "stripe_id": stripe_id,
                "type": types[number % TEMPLATES],
                "customer_id": f"cus_load{number % 50_000:06d}",
                "created_at": created,
                "received_at": created + dt.timedelta(seconds=2),
                "payload": activity.RawJson(
                    text.replace("1700000000", str(int(created.timestamp())))
                ),
                "status": "processed" if number % 10 else "ignored",
                "attempts": 1,
                "processed_at": created + dt.timedelta(seconds=3),
            }

    activity._copy_rows(WebhookEvent, events())


_PRUNE_CHILD = """
import os, sys, time, datetime as dt, json
sys.path.insert(0, {root!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from django_stripe_portal.storage.prune import prune_payloads
cutoff = dt.datetime.fromisoformat({cutoff!r})
result = prune_payloads(cutoff, batch_size={batch})
print(json.dumps({{"pruned": result.pruned, "seconds": result.seconds, "batches": result.batches}}))
"""


def _deliver(client: Any, count: int, rng: random.Random, prefix: str) -> list[float]:
    from tests.webhook_support import post_signed

    kinds = [kind for kind, _ in payloads.MIX]
    weights = [weight for _, weight in payloads.MIX]
    times = []
    for index in range(count):
        event = payloads.build_event(
            rng.choices(kinds, weights)[0], f"evt_{prefix}{index:06d}", int(time.time()), rng
        )
        started = time.perf_counter()
        response = post_signed(client, event)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
    return times


def _measure(args: argparse.Namespace, now: dt.datetime) -> None:
    from django.test import Client

    client = Client()
    rng = random.Random(args.seed + 1)
    span = args.days * 86400
    start = now - dt.timedelta(seconds=span)
    quiet: list[float] = []
    pruning: list[float] = []
    pruned = 0
    prune_seconds = 0.0
    _deliver(client, 20, rng, "warm")
    for round_number in range(args.rounds):
        quiet += _deliver(client, args.deliveries, rng, f"q{round_number}_")
        cutoff = start + dt.timedelta(seconds=span * (round_number + 1) / args.rounds)
        if round_number == args.rounds - 1:
            cutoff = now - dt.timedelta(seconds=60)  # the last round: every loaded event
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PRUNE_CHILD.format(
                    root=str(ROOT), cutoff=cutoff.isoformat(), batch=args.batch_size
                ),
            ],
            stdout=subprocess.PIPE,
            env=os.environ.copy(),
            text=True,
        )
        times: list[float] = []
        while child.poll() is None:
            times += _deliver(client, 10, rng, f"p{round_number}_{len(times):06d}_")
            if len(times) >= args.deliveries * 10:
                break
        out, _ = child.communicate()
        result = json.loads(out.strip().splitlines()[-1])
        pruned += result["pruned"]
        prune_seconds += result["seconds"]
        pruning += times
        print(
            f"round {round_number + 1}: pruned {result['pruned']} in {result['seconds']:.1f} s "
            f"({result['pruned'] / max(result['seconds'], 1e-9):.0f} rows/s, "
            f"{result['batches']} batches); {len(times)} deliveries meanwhile, "
            f"median {statistics.median(times) * 1000:.1f} ms"
            if times
            else f"round {round_number + 1}: pruned {result['pruned']}"
        )
    print(f"prune: {pruned} rows in {prune_seconds:.1f} s = {pruned / prune_seconds:.0f} rows/s")
    quiet_median = statistics.median(quiet)
    pruning_median = statistics.median(pruning) if pruning else float("nan")
    print(
        f"deliveries: median {quiet_median * 1000:.1f} ms quiet ({len(quiet)}), "
        f"{pruning_median * 1000:.1f} ms while pruning ({len(pruning)}): "
        f"{pruning_median / quiet_median:.2f} x "
        f"(p90 {_p(quiet, 0.9) * 1000:.1f} / {_p(pruning, 0.9) * 1000:.1f} ms)"
    )


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


if __name__ == "__main__":
    sys.exit(main())
