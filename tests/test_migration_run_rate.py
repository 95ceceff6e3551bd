"""Migration 0008 fills the run rate of subscriptions stored before the app kept it, from
the newest stored payload of each (never the network), in batches, and says how many it
could not fill. Runs on the suite's database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest
from django.core.management import call_command

from tests import stripe_objects as so
from tests.migration_states import APP, back_at, migrate, migrate_to_newest
from tests.test_revenue import item, subscription

AFTER = [(APP, "0008_run_rate_backfill")]
WHEN = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def at_0007() -> Iterator[Any]:
    yield from back_at("0007_money")


def _store(apps: Any, obj: dict[str, Any], event_type: str, minutes: int) -> None:
    created = WHEN + dt.timedelta(minutes=minutes)
    event = so.event(event_type, obj, created=int(created.timestamp()))
    apps.get_model(APP, "WebhookEvent").objects.create(
        stripe_id=event["id"],
        type=event_type,
        customer_id=obj["customer"],
        created_at=created,
        payload=event,
        status="processed",
    )


def test_0005_fills_from_the_newest_stored_payload(at_0007: Any) -> None:
    old = at_0007
    subscriptions = old.get_model(APP, "StripeSubscription").objects
    for n in range(7):  # more than one batch below
        sub_id, customer = f"sub_fill{n}", f"cus_fill{n}"
        subscriptions.create(
            stripe_id=sub_id, customer_id=customer, status="active", event_created_at=WHEN
        )
        _store(old, subscription(sub_id, customer, item(1000)), "customer.subscription.created", 0)
        _store(
            old,
            subscription(sub_id, customer, item(1000 * (n + 2))),
            "customer.subscription.updated",
            5,
        )
    # A subscription with no stored event, and one whose price came as a bare id.
    subscriptions.create(
        stripe_id="sub_none", customer_id="cus_none", status="active", event_created_at=WHEN
    )
    bare = subscription("sub_bare", "cus_bare", item(1000))
    bare["items"]["data"][0]["price"] = "price_bare"
    bare["items"]["data"][0]["plan"] = "price_bare"
    subscriptions.create(
        stripe_id="sub_bare", customer_id="cus_bare", status="active", event_created_at=WHEN
    )
    _store(old, bare, "customer.subscription.created", 0)

    from django_stripe_portal.webhooks import run_rate_backfill

    out = io.StringIO()
    original = run_rate_backfill.BATCH_SIZE
    run_rate_backfill.BATCH_SIZE = 3
    try:
        with redirect_stdout(out):
            new = migrate(AFTER)
    finally:
        run_rate_backfill.BATCH_SIZE = original

    rows = {
        r.stripe_id: (r.currency, r.monthly_amount)
        for r in new.get_model(APP, "StripeSubscription").objects.all()
    }
    assert {k: v for k, v in rows.items() if k.startswith("sub_fill")} == {
        f"sub_fill{n}": ("eur", 1000 * (n + 2)) for n in range(7)
    }
    assert rows["sub_none"] == ("", None) and rows["sub_bare"][1] is None
    assert "filled for 7 subscription(s); 2 could not be filled" in out.getvalue()


def test_the_command_fills_only_empty_rows_and_can_run_again(at_0007: Any) -> None:
    old = at_0007
    old.get_model(APP, "StripeSubscription").objects.create(
        stripe_id="sub_cmd", customer_id="cus_cmd", status="trialing", event_created_at=WHEN
    )
    _store(old, subscription("sub_cmd", "cus_cmd", item(5000)), "customer.subscription.created", 0)
    migrate_to_newest()
    from django_stripe_portal.models import StripeSubscription

    row = StripeSubscription.objects.get()
    assert (row.currency, row.monthly_amount) == ("eur", 0)  # the stored status: trialing
    out = io.StringIO()
    call_command("backfill_run_rate", stdout=out)
    assert "filled for 0 subscription(s); 0 could not" in out.getvalue()
