"""The plan of every query that reads the webhook events table, on a big table (PostgreSQL).

    DATABASE_URL=postgres://…/bench_activity python bench/event_plans.py [--analyze]

Runs each reader for real (recovery, health, the admin's event lists and a visit's page,
the activity figures, at-risk, revenue, a customer's history, prune, forget, catch-up,
replay, deleting a visit) inside a transaction that is rolled back, records the
statements that touch the events table, and prints for each the scans its plan makes
(with ``--analyze``: ``EXPLAIN (ANALYZE, BUFFERS)``, and its time). Point it at a database
``bench/activity.py --keep`` loaded; it marks a few hundred rows ``pending``, ``failed``
and ``ignored`` first (in the same rolled-back transaction) so that recovery and health
have something to find. Run it before and after a change of indexes: a reader whose line
says ``Seq Scan`` on the events table lost its index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = "django_stripe_portal_webhookevent"
_SCAN = re.compile(
    r"((?:Parallel )?(?:Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan))( Backward)?"
    r"(?: using (\S+))? on (\S+)|Bitmap Index Scan on (\S+)"
)
#: The events table's indexes (filled by ``main``), to tell its bitmap scans from others.
_EVENT_INDEXES: set[str] = set()


class _Rollback(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analyze", action="store_true", help="EXPLAIN ANALYZE, with times")
    parser.add_argument("--full", action="store_true", help="print the whole plans")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("bench/event_plans.py needs a PostgreSQL DATABASE_URL")
        return 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, pg_relation_size(indexname::regclass) FROM pg_indexes "
            "WHERE tablename = %s ORDER BY indexname",
            [TABLE],
        )
        indexes = cursor.fetchall()
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608
        (rows,) = cursor.fetchone()
    print(f"{TABLE}: {rows:,} rows; indexes (size):")
    for name, size in indexes:
        print(f"  {name}: {size / 2**20:.1f} MiB")
        _EVENT_INDEXES.add(name)
    for label, reader in _readers():
        _explain(label, reader, analyze=args.analyze, full=args.full)
    return 0


def _readers() -> list[tuple[str, Callable[[], object]]]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from django_stripe_portal import activity
    from django_stripe_portal.models import PortalSession, WebhookEvent
    from django_stripe_portal.storage.forget import forget_customer
    from django_stripe_portal.storage.prune import prune_payloads
    from django_stripe_portal.webhooks.catch_up import catch_up_window
    from django_stripe_portal.webhooks.health import webhook_health
    from django_stripe_portal.webhooks.recovery import recover_events

    last_30 = activity.ActivityRange.last_days(30)
    today, month = timezone.localdate(), dt.timedelta(days=29)
    admin = "/admin/django_stripe_portal/"

    def page(url: str, params: dict[str, str] | None = None) -> Callable[[], object]:
        def get() -> object:
            client = Client()
            user = get_user_model().objects.filter(is_superuser=True).first()
            if user is None:
                user = get_user_model().objects.create_superuser("plans", "p@example.com", "x")
            client.force_login(user)
            response = client.get(url, params or {})
            assert response.status_code == 200, (url, response.status_code)
            return response

        return get

    # A visit with linked changes, found before any statement is recorded.
    visit = PortalSession.objects.get(
        pk=WebhookEvent.objects.filter(portal_session__isnull=False)
        .order_by("-created_at")
        .values_list("portal_session", flat=True)[:1]
    )

    def visit_page() -> object:
        return page(f"{admin}portalsession/{visit.pk}/change/")()

    def delete_visit() -> object:
        return PortalSession.objects.filter(pk=visit.pk).delete()

    def prune_first_batches() -> object:
        cutoff = timezone.now() - dt.timedelta(days=300)
        return prune_payloads(cutoff, dry_run=True, batch_size=50_000)

    return [
        ("recovery sweep (recover_events --dry-run)", lambda: recover_events(dry_run=True)),
        ("health (check_stripe_webhooks)", webhook_health),
        ("admin: event list", page(f"{admin}webhookevent/")),
        ("admin: ?status=failed", page(f"{admin}webhookevent/", {"status": "failed"})),
        ("admin: ?status=ignored", page(f"{admin}webhookevent/", {"status": "ignored"})),
        ("admin: ?status=processed", page(f"{admin}webhookevent/", {"status": "processed"})),
        ("admin: ?retries=scheduled", page(f"{admin}webhookevent/", {"retries": "scheduled"})),
        (
            "admin: ?type=payment_method.attached",
            page(f"{admin}webhookevent/", {"type": "payment_method.attached"}),
        ),
        ("admin: search cus_…", page(f"{admin}webhookevent/", {"q": "cus_bench0000042"})),
        ("admin: a visit's page (linked changes)", visit_page),
        ("activity_report, 30 days", lambda: activity.activity_report(last_30)),
        ("customers_at_risk, 30 days", lambda: activity.customers_at_risk(30)),
        ("revenue_report, 30 days", lambda: activity.revenue_report(today - month, today)),
        (
            "revenue_report, 30 days ending 60 days ago",
            lambda: activity.revenue_report(today - 3 * month, today - 2 * month),
        ),
        ("customer_history", lambda: activity.customer_history("cus_bench0000042")),
        ("prune (dry run, batches of 50,000)", prune_first_batches),
        ("forget (dry run)", lambda: forget_customer("cus_bench0000042", dry_run=True)),
        ("catch-up window (newest stored event)", catch_up_window),
        (
            "replay_stripe_events --dry-run",
            lambda: call_command("replay_stripe_events", "--dry-run", stdout=open(os.devnull, "w")),
        ),
        ("deleting a visit (SET_NULL)", delete_visit),
    ]


def _unfinished_rows() -> None:
    """A few hundred rows of each unfinished status, as a live table has."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET status = CASE id % 3 WHEN 0 THEN 'pending' "  # noqa: S608
            "WHEN 1 THEN 'failed' ELSE 'ignored' END, "
            "next_attempt_at = CASE id % 3 WHEN 1 THEN now() - interval '1 minute' END "
            f"WHERE id % 2000 = 7"
        )


def _explain(label: str, reader: Callable[[], object], *, analyze: bool, full: bool) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    statements: list[str] = []
    try:
        with transaction.atomic():
            _unfinished_rows()
            with CaptureQueriesContext(connection) as queries:
                reader()
            statements = [q["sql"] for q in queries.captured_queries if TABLE in q["sql"]]
            statements = [s for s in statements if not s.startswith(("EXPLAIN", "SAVEPOINT"))]
            print(f"\n== {label}: {len(statements)} statement(s) on the events table")
            with connection.cursor() as cursor:
                for sql in statements[:6]:
                    options = "ANALYZE, BUFFERS" if analyze else "COSTS OFF"
                    cursor.execute("SAVEPOINT plans")
                    cursor.execute(f"EXPLAIN ({options}) {sql}")
                    plan = [row[0] for row in cursor.fetchall()]
                    cursor.execute("ROLLBACK TO SAVEPOINT plans")
                    _print_plan(sql, plan, full)
            raise _Rollback
    except _Rollback:
        pass


def _print_plan(sql: str, plan: list[str], full: bool) -> None:
    print(f"  {sql[:150]}{' …' if len(sql) > 150 else ''}")
    if full:
        for line in plan:
            print(f"    {line}")
        return
    for line in plan:
        found = _SCAN.search(line)
        if found is None:
            continue
        if found.group(5) is not None:  # a bitmap index scan names only its index
            if found.group(5) not in _EVENT_INDEXES:
                continue
            scan, index = "Bitmap Index Scan", found.group(5)
        elif found.group(4) == TABLE:
            scan, index = found.group(1) + (found.group(2) or ""), found.group(3) or ""
        else:
            continue
        timing = re.search(r"actual time=[\d.]+\.\.([\d.]+) rows=(\d+) loops=(\d+)", line)
        extra = f" ({timing.group(2)} rows x {timing.group(3)} loops)" if timing else ""
        print(f"    {scan} {index}{extra}".rstrip())
    for line in plan:
        if line.startswith(("Execution Time", "Planning Time")):
            print(f"    {line}")


if __name__ == "__main__":
    raise SystemExit(main())
