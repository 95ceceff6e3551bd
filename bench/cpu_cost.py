"""CPU time per delivery, in process (Django's test client, SQLite), step by step.

    python bench/cpu_cost.py > bench/cpu_cost.txt

Counts process CPU time (``time.process_time``), not wall time, so that the
figures hold on a machine shared with other work. Each line is the mean over the
same mix of real-shaped deliveries the load generator sends.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ROUNDS = 25  # deliveries per kind of the mix


def _mean_cpu_ms(step: Callable[[int], object], count: int) -> float:
    started = time.process_time()
    for index in range(count):
        step(index)
    return (time.process_time() - started) / count * 1000


def poster(client: Any, path: str, bodies: list[bytes], secret: str) -> Callable[[int], None]:
    """``send(i)`` posts ``bodies[i]``, signed now, through the test ``client``; checks the 200."""
    import payloads

    def send(i: int) -> None:
        signature = payloads.sign(bodies[i], secret)
        response = client.post(
            path, bodies[i], content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert response.status_code == 200, response.status_code

    return send


def measure(processing: str) -> dict[str, float]:
    """Run inside a process whose settings say ``processing`` (see ``main``)."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")
    import django

    django.setup()
    import payloads
    import stripe
    from django.db.models.constants import OnConflict
    from django.db.models.sql import InsertQuery
    from django.test import Client

    from django_stripe_portal.models import WebhookEvent
    from django_stripe_portal.webhooks import receive
    from django_stripe_portal.webhooks.interpret import interpret_event
    from django_stripe_portal.webhooks.parse import parse_event
    from django_stripe_portal.webhooks.verify import verify_signature

    secret = "whsec_bench"
    rng = random.Random(1)
    kinds = [name for name, _ in payloads.MIX] * ROUNDS

    def batch(tag: str) -> list[bytes]:
        return [
            json.dumps(
                payloads.build_event(k, f"evt_cpu{tag}{n}", payloads.recent_time() + n, rng)
            ).encode()
            for n, k in enumerate(kinds)
        ]

    count = len(kinds)
    figures: dict[str, float] = {}
    bodies = batch("a")
    headers = [payloads.sign(b, secret) for b in bodies]
    figures["sign the delivery (load generator side, not in any request)"] = _mean_cpu_ms(
        lambda i: payloads.sign(bodies[i], secret), count
    )
    figures["floor: stripe.Webhook.construct_event"] = _mean_cpu_ms(
        lambda i: stripe.Webhook.construct_event(bodies[i], headers[i], secret), count
    )

    def app_verify_and_parse(i: int) -> None:
        verify_signature(bodies[i], headers[i], [secret], 300)
        parse_event(bodies[i])

    figures["app: verify_signature + parse_event"] = _mean_cpu_ms(app_verify_and_parse, count)
    rows = []

    def build_row(i: int) -> None:
        event = json.loads(bodies[i])
        rows.append(
            receive.new_event_row(event, interpret_event(event), "processed", 3600, "webhook")
        )

    figures["app: interpret_event + _new_row"] = _mean_cpu_ms(build_row, count)
    fields = [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]

    def compile_insert(i: int) -> None:
        query = InsertQuery(WebhookEvent, on_conflict=OnConflict.IGNORE)
        query.insert_values(fields, [rows[i]])
        query.get_compiler(using="default").as_sql()

    figures["app: compile the event's INSERT (Django's as_sql)"] = _mean_cpu_ms(
        compile_insert, count
    )
    client = Client()

    def post(path: str, tag: str) -> Callable[[int], None]:
        return poster(client, path, batch(tag), secret)

    for n in range(20):  # warm both views up
        post("/floor/webhook/", "w")(n)
        post("/billing/webhook/", "x")(n)
    figures["floor: whole request"] = _mean_cpu_ms(post("/floor/webhook/", "f"), count)
    figures[f"app ({processing}): whole request"] = _mean_cpu_ms(
        post("/billing/webhook/", "p"), count
    )
    return figures


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        print(json.dumps(measure(sys.argv[2])))
        return
    template = sorted(
        (BENCH / "out").glob("bench_template_*.sqlite3"), key=lambda p: p.stat().st_mtime
    )
    print(f"CPU ms per delivery (mean of {ROUNDS} times the mix), SQLite, test client")
    for processing in ("sync", "task"):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "cpu.sqlite3"
            env = {**os.environ, "BENCH_DB": "sqlite", "BENCH_DB_NAME": str(db)}
            env["BENCH_PROCESSING"] = processing
            if template:
                shutil.copyfile(template[-1], db)
            else:
                subprocess.run(
                    [sys.executable, str(BENCH / "djtool.py"), "migrate"],
                    env=env,
                    check=True,
                    cwd=ROOT,
                    capture_output=True,
                )
            done = subprocess.run(
                [sys.executable, __file__, "--inside", processing],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\nWEBHOOK_PROCESSING = {processing!r}")
        for label, value in figures.items():
            print(f"  {value:7.3f}  {label}")


if __name__ == "__main__":
    main()
