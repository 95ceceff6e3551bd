"""Load generator: its own process, several threads, one persistent ``http.client``
connection each (reopened only when the server closes it, as gunicorn's sync
workers do after every response). Bounded by a request count and a time limit.

    python bench/loadgen.py webhook --port P --path /billing/webhook/ --count N ...
    python bench/loadgen.py redirect --port P --path /billing/portal/ --sessions F ...

Deliveries are built before the clock starts and signed just before each is sent.
Prints one JSON object: requests, elapsed, per-status counts, latencies (ms,
sorted), the ``X-Bench-SQL`` header total where the server sends it, and how many
unique events were sent.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import payloads

WEBHOOK_SECRET = "whsec_bench"


class _Shared:
    """Work queue and results shared by the client threads."""

    def __init__(self, requests: list[tuple[bytes, dict[str, str]]], deadline: float) -> None:
        self.requests = requests
        self.next_index = 0
        self.deadline = deadline
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.sql_statements = 0
        self.sql_responses = 0
        self.sql_verbs: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def take(self) -> tuple[bytes, dict[str, str]] | None:
        with self.lock:
            if self.next_index >= len(self.requests) or time.perf_counter() > self.deadline:
                return None
            request = self.requests[self.next_index]
            self.next_index += 1
            return request


def _client(shared: _Shared, port: int, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sql = sql_responses = 0
    verbs: Counter[str] = Counter()
    while (request := shared.take()) is not None:
        body, headers = request
        if "Stripe-Signature" in headers:
            # Signed just before sending, as Stripe does: a long run must not outlive
            # the signature's tolerance.
            headers = {**headers, "Stripe-Signature": payloads.sign(body, WEBHOOK_SECRET)}
        start = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            with shared.lock:
                shared.errors[type(exc).__name__] += 1
            statuses[0] += 1
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        statuses[response.status] += 1
        counted = response.getheader("X-Bench-SQL")
        if counted is not None:
            sql += int(counted)
            sql_responses += 1
            for pair in filter(None, (response.getheader("X-Bench-SQL-Verbs") or "").split(",")):
                verb, n = pair.split("=")
                verbs[verb] += int(n)
    conn.close()
    with shared.lock:
        shared.latencies.extend(latencies)
        shared.statuses.update(statuses)
        shared.sql_statements += sql
        shared.sql_responses += sql_responses
        shared.sql_verbs.update(verbs)


def _webhook_requests(
    args: argparse.Namespace,
) -> tuple[list[tuple[bytes, dict[str, str]]], list[str]]:
    batch = payloads.deliveries(
        args.count, prefix=args.prefix, duplicate_share=args.duplicates, seed=args.seed
    )
    requests = [
        (
            d.body,
            {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": "",  # signed at send time
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        for d in batch
    ]
    return requests, [d.event_id for d in batch]


def _redirect_requests(args: argparse.Namespace) -> list[tuple[bytes, dict[str, str]]]:
    """POSTs of the portal button, cycling through the signed-in users' sessions."""
    sessions = json.loads(Path(args.sessions).read_text())
    requests = []
    for n in range(args.count):
        user = sessions[n % len(sessions)]
        requests.append(
            (
                f"csrfmiddlewaretoken={user['csrf']}".encode(),
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": f"sessionid={user['session']}; csrftoken={user['csrf']}",
                },
            )
        )
    return requests


def run_round(args: argparse.Namespace) -> dict[str, Any]:
    """Build the round's requests (untimed), then send them from ``args.threads`` threads."""
    event_ids: list[str] = []
    if args.kind == "webhook":
        requests, event_ids = _webhook_requests(args)
    else:
        requests = _redirect_requests(args)

    start = time.perf_counter()
    shared = _Shared(requests, start + args.seconds)
    threads = [
        threading.Thread(target=_client, args=(shared, args.port, args.path))
        for _ in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start

    sent = shared.next_index
    return {
        "requests": sent,
        "planned": len(requests),
        "elapsed": elapsed,
        "statuses": {str(k): v for k, v in sorted(shared.statuses.items())},
        "errors": dict(shared.errors),
        "sql_statements": shared.sql_statements,
        "sql_responses": shared.sql_responses,
        "sql_verbs": dict(shared.sql_verbs),
        "unique_events": len(set(event_ids[:sent])),
        "latencies": sorted(shared.latencies),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["webhook", "redirect", "serve"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--path")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit of the round")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--prefix", default="evt_bench")
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sessions", help="JSON file of {session, csrf} per user (redirect)")
    return parser


def main() -> None:
    """One round from the command line, or ``serve``: one round per JSON line on stdin
    (the runner keeps one generator process for a whole run), one JSON line out each."""
    parser = _parser()
    args = parser.parse_args()
    if args.kind != "serve":
        json.dump(run_round(args), sys.stdout)
        return
    for line in sys.stdin:
        params = json.loads(line)
        round_args = parser.parse_args(
            [params.pop("kind"), *(f"--{k}={v}" for k, v in params.items() if v is not None)]
        )
        sys.stdout.write(json.dumps(run_round(round_args)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
