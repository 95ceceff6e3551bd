"""Where a django-tasks-db worker's time goes per event (the drain's "why").

Stores ``--events`` pending events with their tasks in a fresh PostgreSQL database
(through the app's own receive path, task mode, the bench's event mix), then runs
django-tasks-db's worker loop in this process until the queue is empty, counting the
SQL statements (``CaptureQueriesContext``) and timing the app's part of the task
(``process_stored_event``: the row lock, the dispatch, the row's update) apart from the
worker's own work (the claim, the result rows).

    BENCH_PG_PREFIX=x python bench/drain_cost.py [--events 500]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    from databases import Databases

    dbs = Databases("postgres", "draincost")
    db = dbs.fresh("draincost")
    os.environ.update(
        {**db.env(), "DJANGO_SETTINGS_MODULE": "benchproject.settings", "BENCH_PROCESSING": "task"}
    )
    os.environ["BENCH_TASK_ENGINE"] = "db"
    try:
        return _measure(args.events)
    finally:
        from django.db import connections

        connections.close_all()
        dbs.drop_all()


def _measure(count: int) -> int:
    import django

    django.setup()
    import payloads
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_tasks_db.management.commands.db_worker import Worker

    from django_stripe_portal.webhooks import tasks
    from django_stripe_portal.webhooks.accept import accept_event
    from django_stripe_portal.webhooks.receive import receive_event

    for delivery in payloads.deliveries(count, prefix="evt_dc", duplicate_share=0, seed=9):
        receive_event(*accept_event(delivery.body, livemode=False))
    in_task = [0.0]
    process = tasks.process_stored_event  # what the task runs: lock, dispatch, mark

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return process(*args, **kwargs)
        finally:
            in_task[0] += time.perf_counter() - start

    tasks.process_stored_event = timed  # type: ignore[assignment]
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="draincost",
        excluded_queue_names=[],
    )
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        worker.run()
        total = time.perf_counter() - start
    in_app = [q for q in queries.captured_queries if "webhookevent" in q["sql"].lower()]
    kinds = Counter(_kind(q["sql"]) for q in queries.captured_queries)
    print(
        json.dumps(
            {
                "events": count,
                "events_per_second": count / total,
                "ms_per_event": 1000 * total / count,
                "ms_in_the_apps_task": 1000 * in_task[0] / count,
                "ms_in_the_worker_loop": 1000 * (total - in_task[0]) / count,
                "statements_per_event": len(queries.captured_queries) / count,
                "statements_on_the_event_table_per_event": len(in_app) / count,
                "statements_per_event_by_kind": {
                    k: round(n / count, 2) for k, n in kinds.most_common()
                },
                "loadavg": open("/proc/loadavg").read().split()[:3],
            },
            indent=1,
        )
    )
    return 0


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
