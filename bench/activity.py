"""Benchmark of the portal activity figures at scale.

    .venv/bin/python bench/activity.py --sessions 1000000 --events 2000000
    .venv/bin/python bench/activity.py --smoke          # tiny counts, SQLite or PostgreSQL

With a PostgreSQL ``DATABASE_URL`` it creates its own database (``bench_activity``;
``bench_activity_smoke`` for ``--smoke``),
bulk-loads synthetic portal sessions, webhook events and one subscription per
customer with ``COPY``, runs ``VACUUM ANALYZE``, then times the 30-day summary
(``activity.activity_report``), the customers at risk (``activity.customers_at_risk``),
the "Portal activity" and "Customers at risk" admin pages and the admin lists
(Django's test client, as a superuser), and prints ``EXPLAIN (ANALYZE, BUFFERS)`` of
the main queries. The
database is dropped at the end unless ``--keep``. Without a PostgreSQL
``DATABASE_URL`` only ``--smoke`` runs, on an in-memory SQLite database with
``bulk_create`` (the timings then say nothing about scale).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench")  # as bench/scale.py's PG_PREFIX
BENCH_DATABASE = f"{_PREFIX}_activity"
SMOKE_DATABASE = f"{_PREFIX}_activity_smoke"  # a smoke run never drops a full run's database
CONFIGURATION_KEYS = ("default", "annual", "b2b")
# Kinds of change made during a visit, with how often each is drawn.
VISIT_CHANGES = {
    "cancel_scheduled": 18,
    "canceled": 4,
    "reactivated": 3,
    "plan_changed": 20,
    "quantity_changed": 10,
    "paused": 2,
    "resumed": 1,
    "retention_accepted": 2,
    "payment_method_changed": 30,
    "customer_details_changed": 12,
}
FEEDBACK = ("too_expensive", "unused", "switched_service", "missing_features", "other", None)
FEEDBACK_OPTIONS = ("bfo_bench_setup", "bfo_bench_team", "bfo_bench_season", None, None)
# The button's deep links, with how often each starts a visit ("": the portal's home).
FLOWS = {"": 70, "subscription_cancel": 12, "payment_method_update": 10, "subscription_update": 8}
RETENTION_COUPONS = ("WINBACK20", "WINBACK50", "")
# A subscription per customer, by status; a share of the live ones will cancel.
SUBSCRIPTION_STATUSES = {
    "active": 84,
    "trialing": 3,
    "past_due": 3,
    "unpaid": 1,
    "incomplete": 1,
    "canceled": 8,
}
CANCEL_SCHEDULED_SHARE = 0.06
# Share of events linked to a visit (the rest: renewals, Dashboard changes, session.created).
LINKED_SHARE = 0.3


def main() -> int:
    args = _parse_args()
    if args.smoke:
        args.sessions, args.events, args.days = 2_000, 4_000, 60
    args.keep = args.keep or args.reuse
    url = os.environ.get("DATABASE_URL", "")
    postgres = url.startswith(("postgres://", "postgresql://"))
    if not postgres and not args.smoke:
        print("bench/activity.py needs a PostgreSQL DATABASE_URL (or --smoke for SQLite).")
        return 2
    admin_url = url
    database = args.database or (SMOKE_DATABASE if args.smoke else BENCH_DATABASE)
    if postgres and args.reuse:
        os.environ["DATABASE_URL"] = _server_url(admin_url, database)
    elif postgres:
        os.environ["DATABASE_URL"] = _create_database(admin_url, database)
    else:
        os.environ["DATABASE_URL"] = "sqlite:///:memory:"
    try:
        _run(args, postgres)
    finally:
        if postgres and not args.keep:
            from django.db import connections

            connections.close_all()
            _drop_database(admin_url, database)
    return 0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=365, help="history the rows spread over")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure again on the database a --keep run left (no load); implies --keep",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts: does it run at all")
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="also empty every subscription's run rate and time migration 0008's backfill",
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--database",
        help=f"name of the PostgreSQL database to create (default {BENCH_DATABASE}; "
        f"{SMOKE_DATABASE} for --smoke); it is dropped first",
    )
    return parser.parse_args()


def _server_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _create_database(url: str, database: str) -> str:
    import psycopg

    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    return _server_url(url, database)


def _drop_database(url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    print(f"\ndropped database {database}")


def _run(args: argparse.Namespace, postgres: bool) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    version = ".".join(map(str, connection.get_database_version()))
    print(f"database: {connection.vendor} {version}, {os.cpu_count()} CPU cores")
    if args.reuse:
        _measure(args, postgres)
        return
    print(f"rows: {args.sessions} portal sessions, {args.events} webhook events, {args.days} days")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _load(args, postgres)
    print(f"load: {time.perf_counter() - started:.1f} s")
    if postgres:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # What autovacuum does to an insert-only table (PostgreSQL 13+): statistics,
            # and the visibility map that lets index-only scans skip the table.
            cursor.execute("VACUUM ANALYZE")
        print(f"vacuum analyze: {time.perf_counter() - started:.1f} s")
    _measure(args, postgres)


# --- synthetic data -----------------------------------------------------------------------


def _load(args: argparse.Namespace, postgres: bool) -> None:
    from django_stripe_portal.models import (
        PortalConfiguration,
        PortalSession,
        StripeSubscription,
        WebhookEvent,
    )

    rng = random.Random(args.seed)
    now = dt.datetime.now(dt.UTC)
    options = [
        {"id": option, "object": "billing.feedback_option", "description": f"{option} reason"}
        for option in FEEDBACK_OPTIONS[:2]  # the third is unknown: shown by its id
        if option
    ]
    stripe_data = {
        "features": {"subscription_cancel": {"cancellation_reason": {"feedback_options": options}}}
    }
    configurations = [
        PortalConfiguration.objects.create(
            key=key, stripe_id=f"bpc_bench_{key}", synced_at=now, stripe_data=stripe_data
        )
        for key in CONFIGURATION_KEYS
    ]
    config_ids = [c.pk for c in configurations] + [None]
    customers = max(1, args.sessions // 4)
    span = args.days * 86400
    start = now - dt.timedelta(seconds=span)
    # Rows are written in time order, as a live site appends them.
    session_offsets = sorted(rng.random() * span for _ in range(args.sessions))
    session_customers = [f"cus_bench{rng.randrange(customers):07d}" for _ in session_offsets]

    flows, flow_weights = list(FLOWS), list(FLOWS.values())

    def sessions() -> Iterator[dict[str, Any]]:
        for index, offset in enumerate(session_offsets):
            number = index + 1
            created = start + dt.timedelta(seconds=offset)
            returned = rng.random() < 0.45
            flow = rng.choices(flows, flow_weights)[0]
            coupon = rng.choice(RETENTION_COUPONS) if flow == "subscription_cancel" else ""
            yield {
                "flow_type": flow,
                "retention_coupon": coupon,
                "id": number,
                "stripe_id": f"bps_bench{number:08d}",
                "customer_id": session_customers[index],
                "configuration_id": rng.choice(config_ids),
                "created_at": created,
                "returned_at": created + dt.timedelta(minutes=rng.randrange(1, 30))
                if returned
                else None,
                "source": "app" if rng.random() < 0.9 else "webhook",
            }

    kinds = list(VISIT_CHANGES)
    weights = list(VISIT_CHANGES.values())
    linked_count = int(args.events * LINKED_SHARE)
    # (offset, session index or -1): changes made during a visit, 10 s to 30 min into
    # it, merged in time order with the events no visit explains.
    linked = sorted(
        (session_offsets[index] + rng.randrange(10, 1800), index)
        for index in (rng.randrange(args.sessions) for _ in range(linked_count))
    )
    unlinked = sorted((rng.random() * span, -1) for _ in range(args.events - linked_count))

    def events() -> Iterator[dict[str, Any]]:
        for number, (offset, index) in enumerate(heapq.merge(linked, unlinked), start=1):
            created = start + dt.timedelta(seconds=offset)
            session_id = None
            kind = ""
            if index >= 0:
                session_id = index + 1
                kind = rng.choices(kinds, weights)[0]
                customer = session_customers[index]
            else:
                customer = f"cus_bench{rng.randrange(customers):07d}"
                if rng.random() < 0.1:
                    kind = rng.choices(kinds, weights)[0]
            event_type = _event_type(kind)
            stripe_id = f"evt_bench{number:08d}"
            obj: dict[str, Any] = {"id": f"sub_bench{number:08d}", "customer": customer}
            details: dict[str, Any] = {}
            money = _event_money(rng, kind)
            if event_type.startswith("customer.subscription."):
                # The customer's subscription, as Stripe sends it: what the run-rate
                # backfill reads (its newest stored payload).
                obj = _subscription_object(customer, money["run_rate_after"] or 2900)
            if kind in ("canceled", "cancel_scheduled"):
                details = obj["cancellation_details"] = {
                    "reason": "cancellation_requested",
                    "feedback": rng.choice(FEEDBACK),
                    "feedback_option": rng.choice(FEEDBACK_OPTIONS),
                    "comment": None,
                }
            yield {
                "id": number,
                "stripe_id": stripe_id,
                "type": event_type,
                "customer_id": customer,
                "created_at": created,
                "received_at": created + dt.timedelta(seconds=2),
                "payload": {
                    "id": stripe_id,
                    "object": "event",
                    "type": event_type,
                    "created": int(created.timestamp()),
                    "data": {"object": obj},
                },
                "status": "processed",
                "attempts": 1,
                "processed_at": created + dt.timedelta(seconds=3),
                "portal_session_id": session_id,
                "change_kind": kind,
                # What ingest writes beside the payload (storage.columns).
                "cancel_feedback": details.get("feedback") or "",
                "cancel_feedback_option": details.get("feedback_option") or "",
                **money,
            }

    statuses, status_weights = list(SUBSCRIPTION_STATUSES), list(SUBSCRIPTION_STATUSES.values())

    def subscriptions() -> Iterator[dict[str, Any]]:
        for number in range(customers):
            status = rng.choices(statuses, status_weights)[0]
            written = now - dt.timedelta(seconds=rng.random() * span)
            period_end = now + dt.timedelta(days=rng.randrange(1, 31))
            scheduled = status != "canceled" and rng.random() < CANCEL_SCHEDULED_SHARE
            yield {
                "id": number + 1,
                "stripe_id": f"sub_benchc{number:07d}",
                "customer_id": f"cus_bench{number:07d}",
                "status": status,
                "items": [{"id": f"si_bench{number:07d}", "price": "price_basic", "quantity": 1}],
                "cancel_at_period_end": scheduled,
                "canceled_at": written if scheduled or status == "canceled" else None,
                "current_period_end": period_end,
                "cancellation_details": {},
                "event_created_at": written,
                "updated": written,
                "currency": "eur" if number % 10 == 0 else "usd",
                "monthly_amount": 0 if status in ("trialing", "canceled") else rng.choice(PRICES),
                "run_rate_basis": {"currency": "usd", "live": True, "items": [], "discounts": []},
            }

    writer = _copy_rows if postgres else _bulk_create_rows
    writer(PortalSession, sessions())
    writer(WebhookEvent, events())
    writer(StripeSubscription, subscriptions())


PRICES = (900, 2900, 2900, 4900, 9900, 2417)


def _event_money(rng: random.Random, kind: str) -> dict[str, Any]:
    """The money columns the webhook path writes for an event of ``kind``."""
    if kind in ("", "payment_method_changed", "customer_details_changed"):
        return {}
    before, after = rng.choice(PRICES), rng.choice(PRICES)
    if kind in ("canceled", "paused"):
        after = 0
    elif kind in ("cancel_scheduled", "reactivated", "resumed"):
        after = before
    elif kind == "retention_accepted":
        after = before * 3 // 4
    return {
        "currency": "eur" if rng.random() < 0.1 else "usd",
        "run_rate_before": before,
        "run_rate_after": after,
        "discount_cost": (before - after) * 3 if kind == "retention_accepted" else None,
        "cancel_reason": rng.choice(FEEDBACK) or ""
        if kind in ("canceled", "cancel_scheduled")
        else "",
    }


def _subscription_object(customer: str, amount: int) -> dict[str, Any]:
    number = int(customer.removeprefix("cus_bench"))
    price = {
        "id": "price_bench",
        "object": "price",
        "billing_scheme": "per_unit",
        "currency": "usd",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }
    return {
        "id": f"sub_benchc{number:07d}",
        "object": "subscription",
        "customer": customer,
        "currency": "usd",
        "status": "active",
        "discounts": [],
        "pause_collection": None,
        "items": {
            "object": "list",
            "data": [{"id": f"si_bench{number:07d}", "price": price, "quantity": 1}],
        },
    }


def _event_type(kind: str) -> str:
    if kind == "canceled":
        return "customer.subscription.deleted"
    if kind == "payment_method_changed":
        return "payment_method.attached"
    if kind == "retention_accepted":
        return "customer.discount.created"
    if kind == "customer_details_changed":
        return "customer.updated"
    if kind == "":
        return "billing_portal.session.created"
    return "customer.subscription.updated"


def _column_values(model: type[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Every concrete field of ``model`` and the value a row gets when we give none."""
    fields = [f for f in model._meta.concrete_fields]
    defaults = {}
    for field in fields:
        if field.has_default():
            defaults[field.attname] = field.get_default()
        elif field.null:
            defaults[field.attname] = None
        else:
            text = field.get_internal_type() in ("CharField", "TextField")
            defaults[field.attname] = "" if text else None
    return fields, defaults


class RawJson(str):
    """JSON text already serialized (``bench/prune.py``'s payloads): copied as it is."""


def _copy_rows(model: type[Any], rows: Iterator[dict[str, Any]]) -> None:
    from django.db import connection

    fields, defaults = _column_values(model)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    json_fields = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    started = time.perf_counter()
    count = 0
    with connection.cursor() as cursor:
        # Secondary indexes are built once after the load (much faster than row by row);
        # the primary key and unique constraints stay.
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [model._meta.db_table],
        )
        secondary = cursor.fetchall()
        for name, _definition in secondary:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            lines = []
            for row in rows:
                values = []
                for field in fields:
                    value = row.get(field.attname, defaults[field.attname])
                    if field.attname in json_fields and not isinstance(value, RawJson):
                        value = json.dumps(value)
                    values.append(_copy_text(value))
                lines.append("\t".join(values))
                count += 1
                if len(lines) == 10_000:
                    copy.write("\n".join(lines) + "\n")
                    lines = []
            if lines:
                copy.write("\n".join(lines) + "\n")
        copied = time.perf_counter()
        for _name, definition in secondary:
            cursor.execute(definition)
        sequence = f"pg_get_serial_sequence('{model._meta.db_table}', 'id')"
        cursor.execute(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))")  # noqa: S608
    print(
        f"  COPY {count} rows into {model._meta.db_table}: {copied - started:.1f} s, "
        f"then {len(secondary)} indexes rebuilt: {time.perf_counter() - copied:.1f} s"
    )


def _copy_text(value: Any) -> str:
    """One value in COPY's text format: rows are formatted here and written in blocks,
    which is much cheaper than ``write_row``'s per-value adaptation."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _bulk_create_rows(model: type[Any], rows: Iterator[dict[str, Any]]) -> None:
    batch = [model(**row) for row in rows]
    model.objects.bulk_create(batch, batch_size=500)
    print(f"  bulk_create {len(batch)} rows into {model._meta.db_table}")


# --- measurements -------------------------------------------------------------------------


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _timed(label: str, repeat: int, work: Callable[[], object]) -> float:
    work()  # warm-up: connection, caches, plan
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    median = statistics.median(runs)
    print(f"{label:<58} median {median * 1000:8.1f} ms   max {max(runs) * 1000:8.1f} ms")
    return median


def _measure(args: argparse.Namespace, postgres: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from django_stripe_portal import activity
    from django_stripe_portal.models import PortalSession, WebhookEvent

    if args.reuse:
        sessions, events = PortalSession.objects.count(), WebhookEvent.objects.count()
        print(f"rows (reused database): {sessions} portal sessions, {events} webhook events")
    # Other work on the machine shows in the figures: say how busy it was.
    print(f"load average (1, 5, 15 min) before timing: {_load_average()}")
    print("\n# timings (warm, median of", args.repeat, "runs)")
    last_30 = activity.ActivityRange.last_days(30)
    one_config = activity.ActivityRange.last_days(30, configuration="annual")
    _timed("activity_summary, 30 days", args.repeat, lambda: activity.activity_summary(last_30))
    _timed("visits_per_day, 30 days", args.repeat, lambda: activity.visits_per_day(last_30))
    _timed("visit_outcomes, 30 days", args.repeat, lambda: activity.visit_outcomes(last_30))
    _timed(
        "cancellation_reasons, 30 days",
        args.repeat,
        lambda: activity.cancellation_reasons(last_30),
    )
    summary = _timed(
        "30-day summary: activity_report (all of the above)",
        args.repeat,
        lambda: activity.activity_report(last_30),
    )
    _timed(
        "activity_report, 30 days, one configuration",
        args.repeat,
        lambda: activity.activity_report(one_config),
    )
    _timed(
        "activity_report, 365 days",
        args.repeat,
        lambda: activity.activity_report(activity.ActivityRange.last_days(365)),
    )
    _timed(
        "customer_history, one customer",
        args.repeat,
        lambda: activity.customer_history("cus_bench0000042"),
    )
    _timed("retention_offers, 30 days", args.repeat, lambda: activity.retention_offers(last_30))
    at_risk = _timed(
        "customers_at_risk, 30 days", args.repeat, lambda: activity.customers_at_risk(30)
    )
    today = dt.date.today()
    revenue = _timed(
        "revenue_report, 30 days",
        args.repeat,
        lambda: activity.revenue_report(today - dt.timedelta(days=29), today),
    )
    _timed(
        "revenue_report, 30 days, ending 60 days ago (mrr taken back)",
        args.repeat,
        lambda: activity.revenue_report(
            today - dt.timedelta(days=89), today - dt.timedelta(days=60)
        ),
    )
    with CaptureQueriesContext(connection) as risk_queries:
        at_risk_rows = activity.customers_at_risk(30)
    # Copied now: the connection's query log is bounded, so the context's indices into
    # it would name other queries once the admin pages below have run.
    # The reading queries (on PostgreSQL they run in a transaction with the JIT off:
    # BEGIN, SET LOCAL and COMMIT are not plans to explain).
    risk_sql = [
        query["sql"]
        for query in risk_queries.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT")
    ]
    reasons: dict[str, int] = {}
    for customer in at_risk_rows:
        for reason in customer.reasons:
            reasons[reason] = reasons.get(reason, 0) + 1
    print(f"  customers at risk: {len(at_risk_rows)} ({reasons}), {len(risk_sql)} queries")

    user_model = get_user_model()
    superuser = user_model.objects.filter(username="bench").first() or (
        user_model.objects.create_superuser("bench", "bench@example.com", "bench")
    )
    client = Client()
    client.force_login(superuser)
    # A person behind one customer: the lists name them, the search finds them by name.
    from django_stripe_portal.customers import link_customer

    person = user_model.objects.filter(username="bench-dana").first() or (
        user_model.objects.create_user(
            "bench-dana", "dana@bench.example", first_name="Dana", last_name="Li"
        )
    )
    link_customer(person, "cus_bench0000042")

    def page(url: str, params: dict[str, str] | None = None) -> Callable[[], object]:
        def get() -> object:
            response = client.get(url, params or {})
            assert response.status_code == 200, (url, response.status_code)
            return response

        return get

    base = "/admin/django_stripe_portal/"
    admin_page = _timed(
        "admin: Portal activity page, 30 days", args.repeat, page(f"{base}portalsession/activity/")
    )
    year = activity.ActivityRange.last_days(365)
    _timed(
        "admin: Portal activity page, 365 days",
        args.repeat,
        page(
            f"{base}portalsession/activity/",
            {"start": year.start.isoformat(), "end": year.end.isoformat()},
        ),
    )
    _timed(
        "admin: Portal activity page, 30 days + customer history",
        args.repeat,
        page(f"{base}portalsession/activity/", {"customer": "cus_bench0000042"}),
    )
    risk_page = _timed(
        "admin: Customers at risk page, 30 days",
        args.repeat,
        page(f"{base}portalsession/at-risk/"),
    )
    _timed("admin: webhook event list", args.repeat, page(f"{base}webhookevent/"))
    _timed(
        "admin: webhook event list, filtered by type",
        args.repeat,
        page(f"{base}webhookevent/", {"type": "payment_method.attached"}),
    )
    _timed(
        "admin: webhook event list, search by customer id",
        args.repeat,
        page(f"{base}webhookevent/", {"q": "cus_bench0000042"}),
    )
    _timed(
        "admin: webhook event list, search by a person's name",
        args.repeat,
        page(f"{base}webhookevent/", {"q": "dana li"}),
    )
    _timed(
        "admin: portal session list, search by a person's name",
        args.repeat,
        page(f"{base}portalsession/", {"q": "dana li"}),
    )
    _timed("admin: portal session list", args.repeat, page(f"{base}portalsession/"))
    _timed("admin: portal session detail", args.repeat, page(f"{base}portalsession/7/change/"))

    print(f"load average (1, 5, 15 min) after timing: {_load_average()}")
    print(f"\nRESULT 30-day summary {summary * 1000:.1f} ms (target 1000 ms)")
    print(f"RESULT admin activity page {admin_page * 1000:.1f} ms (target 2000 ms)")
    print(f"RESULT customers_at_risk {at_risk * 1000:.1f} ms (target 1000 ms)")
    print(f"RESULT admin at-risk page {risk_page * 1000:.1f} ms")
    print(f"RESULT revenue_report {revenue * 1000:.1f} ms (target 1000 ms)")
    if args.backfill:
        _backfill(args)

    print("\n# query plans of the 30-day summary, then of customers_at_risk")
    with CaptureQueriesContext(connection) as queries:
        activity.activity_report(last_30)
    explain = "EXPLAIN (ANALYZE, BUFFERS)" if postgres else "EXPLAIN QUERY PLAN"
    for sql in [*(query["sql"] for query in queries.captured_queries), *risk_sql]:
        if not sql.lstrip(" (").upper().startswith("SELECT"):
            continue  # the transaction's BEGIN, SET LOCAL jit, COMMIT
        print(f"\n-- {_shortened(sql)}")
        with connection.cursor() as cursor:
            cursor.execute(f"{explain} {sql}")
            for row in cursor.fetchall():
                print("   ", _shortened(" | ".join(str(col) for col in row)))


def _shortened(text: str, limit: int = 400) -> str:
    """A plan line or query cut short: the at-risk queries carry 30,000 ids in their text."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … [{len(text) - limit:,} more characters]"


def _backfill(args: argparse.Namespace) -> None:
    """Migration 0008's backfill over every subscription (run rates emptied first): time,
    peak memory (ru_maxrss grows only if the backfill needs more than the process had)."""
    import resource

    from django_stripe_portal.models import StripeDiscount, StripeSubscription, WebhookEvent
    from django_stripe_portal.webhooks.run_rate_backfill import backfill_run_rates

    StripeSubscription.objects.update(run_rate_basis=None, monthly_amount=None, currency="")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\nload average before the backfill: {_load_average()}")
    started = time.perf_counter()
    result = backfill_run_rates(StripeSubscription, WebhookEvent, StripeDiscount)
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"RESULT backfill {elapsed:.1f} s: {result.filled} filled, {result.not_filled} not "
        f"filled; peak RSS {rss_before // 1024} MB before, {rss_after // 1024} MB after"
    )


if __name__ == "__main__":
    sys.exit(main())
