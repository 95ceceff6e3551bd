"""Benchmark of the access checks at scale, by plan and by feature, on PostgreSQL.

    DATABASE_URL=postgres://…/anything .venv/bin/python bench/access_checks.py [--users 300000]

Creates its own database (``<BENCH_PG_PREFIX>_access``), loads ``--users`` users, each
linked to a customer with two subscriptions (one live) and a summary of features, 1 % of
them Accounts v2 customers (linked by ``acct_…``, their rows carrying
``customer_account``), runs ``VACUUM ANALYZE``, then times in interleaved rounds:

* ``reference``: the plan check as it was before Accounts v2 (``customer_id IN`` the
  user's links: one indexed semi-join), written with the ORM;
* ``has_active_subscription(user=…)`` and ``entitlements(user=…)`` as shipped;

and prints each one's ratio to the reference (per round and the median), the machine's
load, and ``EXPLAIN ANALYZE`` of the shipped queries (no sequential scan may appear).
The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATABASE = f"{os.environ.get('BENCH_PG_PREFIX', 'bench')}_access"


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench/access_checks.py needs a PostgreSQL DATABASE_URL")
    parts = urlsplit(url)
    _admin(url, f'DROP DATABASE IF EXISTS "{DATABASE}"')
    _admin(url, f'CREATE DATABASE "{DATABASE}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{DATABASE}"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    sys.path.insert(0, str(ROOT))
    try:
        _run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _admin(url, f'DROP DATABASE IF EXISTS "{DATABASE}"')


def _run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from django_stripe_portal.access import entitlements, has_active_subscription
    from django_stripe_portal.models import StripeCustomer, StripeSubscription

    call_command("migrate", verbosity=0)
    n = args.users
    acct = "CASE WHEN g % 100 = 0 THEN 'acct_v2' || g ELSE '' END"
    # Only integers and fixed text are put in the SQL below.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"  # noqa: S608
            " email, is_staff, is_active, date_joined) SELECT '', false, 'u' || g, '', '', '',"
            f" false, true, now() FROM generate_series(1, {n}) g"
        )
        cursor.execute(
            "INSERT INTO django_stripe_portal_stripecustomer (user_id, customer_id, account,"  # noqa: S608
            " livemode, created, customer_account) SELECT g, CASE WHEN g % 100 = 0 THEN"
            f" 'acct_v2' || g ELSE 'cus_' || g END, '', false, now(), {acct}"
            f" FROM generate_series(1, {n}) g"
        )
        for status, offset in (("active", 0), ("canceled", n)):
            cursor.execute(
                "INSERT INTO django_stripe_portal_stripesubscription (stripe_id, customer_id,"  # noqa: S608
                " status, items, cancel_at_period_end, cancellation_details, account, livemode,"
                f" event_created_at, updated, customer_account) SELECT 'sub_' || (g + {offset}),"
                f" 'cus_' || g, '{status}', '[]', false, '{{}}', '', false, now(), now(), {acct}"
                f" FROM generate_series(1, {n}) g"
            )
        cursor.execute(
            "INSERT INTO django_stripe_portal_portalsession (stripe_id, customer_id, flow_type,"  # noqa: S608
            " return_to, locale, livemode, created_at, source, retention_coupon, account,"
            " return_key, customer_account) SELECT 'bps_' || g, 'cus_' || g, '', '', '', false,"
            f" now(), 'app', '', '', '', {acct} FROM generate_series(1, {n}) g"
        )
        cursor.execute(
            "INSERT INTO django_stripe_portal_activeentitlements (customer_id, account, livemode,"  # noqa: S608
            " lookup_keys, event_created_at, updated) SELECT 'cus_' || g, '', false,"
            f" '[\"pro-reports\"]', now(), now() FROM generate_series(1, {n}) g"
        )
    connection.cursor().execute("VACUUM ANALYZE")
    plain, v2 = User.objects.get(pk=n // 2 + 1), User.objects.get(pk=n // 2)
    assert has_active_subscription(user=plain) and has_active_subscription(user=v2)
    assert entitlements(user=v2) == {"pro-reports"}

    def reference() -> bool:
        linked = StripeCustomer.objects.filter(user_id=plain.pk, account="").values("customer_id")
        return StripeSubscription.objects.filter(
            status__in=["active", "trialing"], livemode=False, account="", customer_id__in=linked
        ).exists()

    checks = {
        "has_active_subscription": lambda: has_active_subscription(user=plain),
        "has_active_subscription (Accounts v2)": lambda: has_active_subscription(user=v2),
        "entitlements": lambda: entitlements(user=plain),
        "entitlements (Accounts v2)": lambda: entitlements(user=v2),
    }
    ratios: dict[str, list[float]] = {name: [] for name in checks}
    for round_number in range(args.rounds):
        order = list(checks.items())
        if round_number % 2:
            order.reverse()
        for name, check in order:
            timings = []
            for function in (reference, check) if round_number % 2 else (check, reference):
                start = time.perf_counter()
                for _ in range(args.calls):
                    function()
                timings.append(time.perf_counter() - start)
            mine, ref = (timings[1], timings[0]) if round_number % 2 else timings
            ratios[name].append(mine / ref)
    print(f"{n:,} users; load average {os.getloadavg()}")
    for name, values in ratios.items():
        shown = ", ".join(f"{value:.2f}" for value in values)
        print(f"{name}: {statistics.median(values):.2f} x reference (rounds: {shown})")
    from django_stripe_portal.access import _entitlement_rows, active_subscriptions

    for title, queryset in (
        ("active_subscriptions(user=…)", active_subscriptions(user=v2)),
        ("entitlements(user=…)", _entitlement_rows(v2, None, "")),
    ):
        plan = queryset.explain(analyze=True)
        print(f"\n-- {title}\n{plan}")
        assert "Seq Scan" not in plan, f"{title}: a sequential scan"


if __name__ == "__main__":
    main()
