"""Database chores for the runner, run inside the bench project with a target's
environment (``BENCH_DB``, ``BENCH_DB_NAME``):

    python bench/djtool.py migrate
    python bench/djtool.py users --count 50 --out sessions.json
    python bench/djtool.py preload --rows 1000000
    python bench/djtool.py rows

Each prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import string
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")

import django  # noqa: E402

django.setup()

import payloads  # noqa: E402
from benchproject.models import FloorEvent  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from django_stripe_portal.models import StripeCustomer, WebhookEvent  # noqa: E402

#: Customers the preloaded events are spread over (the load's customers among them).
PRELOAD_CUSTOMERS = 10_000
PRELOAD_KINDS = (
    "billing_portal.session.created",
    "customer.updated",
    "payment_method.attached",
    "customer.subscription.deleted",
)
PRELOAD_CHANGE_KIND = {
    "billing_portal.session.created": "",
    "customer.updated": "customer_details_changed",
    "payment_method.attached": "payment_method_changed",
    "customer.subscription.deleted": "canceled",
}


def migrate(args: argparse.Namespace) -> dict[str, Any]:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    return {"migrated": connection.settings_dict["NAME"]}


def users(args: argparse.Namespace) -> dict[str, Any]:
    """Signed-in users linked to customers, as session and CSRF cookies for the load."""
    sessions = []
    for index in range(args.count):
        user, _ = User.objects.get_or_create(username=f"bench{index}")
        StripeCustomer.objects.update_or_create(
            user=user, defaults={"customer_id": payloads.customer_id(index)}
        )
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.save()
        csrf = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        sessions.append({"session": store.session_key, "csrf": csrf})
    Path(args.out).write_text(json.dumps(sessions))
    return {"users": len(sessions)}


def rows(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "webhook_events": WebhookEvent.objects.count(),
        "floor_events": FloorEvent.objects.count(),
    }


def _preload_templates() -> list[tuple[str, str]]:
    """(type, JSON text with the placeholder id) for each preloaded kind."""
    rng = random.Random(7)
    templates = []
    for kind in PRELOAD_KINDS:
        event = payloads.build_event(kind, "evt_PLACEHOLDER", int(time.time()), rng)
        if kind == "billing_portal.session.created":
            event["data"]["object"]["url"] = None  # stored redacted
        templates.append((event["type"], json.dumps(event)))
    return templates


def _preload_rows(count: int) -> Any:
    """Column names and a generator of rows with every concrete field of WebhookEvent.

    Fields this file does not name (added later by someone) get their default.
    """
    fields = [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]
    sqlite = connection.vendor == "sqlite"
    defaults = {
        f.attname: f.get_db_prep_save(f.get_default() if f.has_default() else None, connection)
        for f in fields
    }
    templates = _preload_templates()
    now = datetime.now(UTC).replace(tzinfo=None) if sqlite else datetime.now(UTC)
    step = timedelta(seconds=365 * 86400 / max(count, 1))

    def generate() -> Any:
        rng = random.Random(11)
        created = now - step * count - timedelta(hours=1)
        for index in range(count):
            kind, template = templates[index % len(templates)]
            created += step
            when = str(created) if sqlite else created
            event_id = f"evt_pre{index:09d}"
            values = {
                "stripe_id": event_id,
                "type": kind,
                "livemode": False,
                "api_version": payloads.stripe_objects.API_VERSION,
                "account": "",
                "customer_id": payloads.customer_id(rng.randrange(PRELOAD_CUSTOMERS)),
                "created_at": when,
                "received_at": when,
                "payload": template.replace("evt_PLACEHOLDER", event_id),
                "status": "processed",
                "attempts": 1,
                "last_error": "",
                "processed_at": when,
                "portal_session_id": None,
                "change_kind": PRELOAD_CHANGE_KIND[kind],
            }
            yield [values.get(f.attname, defaults[f.attname]) for f in fields]

    return [f.column for f in fields], generate()


def preload(args: argparse.Namespace) -> dict[str, Any]:
    """``--rows`` processed events, by COPY on PostgreSQL and executemany on SQLite."""
    table = WebhookEvent._meta.db_table
    columns, generated = _preload_rows(args.rows)
    started = time.perf_counter()
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in generated:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            insert = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"  # noqa: S608 - our names
            batch: list[Any] = []
            for row in generated:
                batch.append(row)
                if len(batch) == 20_000:
                    cursor.executemany(insert, batch)
                    batch.clear()
            if batch:
                cursor.executemany(insert, batch)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return {"rows": args.rows, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate")
    commands.add_parser("rows")
    p = commands.add_parser("users")
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--out", required=True)
    p = commands.add_parser("preload")
    p.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()
    handler = {"migrate": migrate, "users": users, "rows": rows, "preload": preload}
    result = handler[args.command](args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
