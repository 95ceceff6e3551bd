"""Deauthorization is state of its own: the documented prune of old events
(docs/deployment.md, run as written) never gives a disconnected merchant's customers
access again, and migration 0004 carries what the stored events said into the table."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_stripe_portal.access import has_active_subscription
from django_stripe_portal.models import AccountAuthorization, WebhookEvent
from django_stripe_portal.state.accounts import is_deauthorized
from tests import stripe_objects as so
from tests.factories import StripeCustomerFactory, UserFactory
from tests.migration_states import back_at, migrate
from tests.test_connect_webhooks import CONNECT_SECRET, MERCHANT, SETTINGS, connect_event
from tests.test_docs_recipes import documented_prune
from tests.webhook_support import post_signed


def _connect(event_type: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    return connect_event(event_type, obj, created=created)


def _application(event_type: str, created: int) -> dict[str, Any]:
    application = {"id": "ca_platformapp01", "object": "application", "name": "The platform"}
    return _connect(event_type, application, created)


@pytest.mark.django_db
def test_the_documented_prune_does_not_reconnect_a_deauthorized_account(client: Client) -> None:
    user = UserFactory()
    StripeCustomerFactory(user=user, customer_id="cus_pruned", account=MERCHANT)
    long_ago = int(time.time()) - 500 * 86400
    with override_settings(STRIPE_PORTAL=SETTINGS):
        subscription = so.subscription(customer="cus_pruned")
        created = _connect("customer.subscription.created", subscription, long_ago)
        assert post_signed(client, created, CONNECT_SECRET).status_code == 200
        deauthorized = _application("account.application.deauthorized", long_ago + 60)
        assert post_signed(client, deauthorized, CONNECT_SECRET).status_code == 200
    assert not has_active_subscription(user=user, account=MERCHANT)

    with override_settings(STRIPE_PORTAL={**SETTINGS, "EVENT_PAYLOAD_DAYS": 400}):
        call_command(*documented_prune(), stdout=io.StringIO())

    pruned = WebhookEvent.objects.get(type="account.application.deauthorized")
    assert pruned.payload == {"pruned": True}
    assert is_deauthorized(MERCHANT)
    assert not has_active_subscription(user=user, account=MERCHANT)


@pytest.mark.django_db
def test_reauthorization_restores_access_and_an_older_event_changes_nothing(
    client: Client,
) -> None:
    now = int(time.time())
    with override_settings(STRIPE_PORTAL=SETTINGS):
        for event_type, created in [
            ("account.application.deauthorized", now - 100),
            ("account.application.authorized", now - 50),
            ("account.application.deauthorized", now - 80),  # late: older than the above
        ]:
            post_signed(client, _application(event_type, created), CONNECT_SECRET)
        assert not is_deauthorized(MERCHANT)
        # Of the same second, a deauthorization wins: access is not granted on a guess.
        post_signed(
            client, _application("account.application.deauthorized", now - 50), CONNECT_SECRET
        )
        post_signed(
            client, _application("account.application.authorized", now - 50), CONNECT_SECRET
        )
    assert is_deauthorized(MERCHANT)
    assert AccountAuthorization.objects.count() == 1


APP = "django_stripe_portal"


@pytest.fixture
def at_0003() -> Iterator[Any]:
    yield from back_at("0003_churn")


@pytest.mark.django_db(transaction=True)
def test_0004_fills_the_table_from_the_stored_events(at_0003: Any) -> None:
    events = at_0003.get_model(APP, "WebhookEvent")
    when = timezone.now() - dt.timedelta(days=3)

    def stored(account: str, event_type: str, at: dt.datetime) -> None:
        events.objects.create(
            stripe_id=so.unique_id("evt"),
            type=event_type,
            account=account,
            created_at=at,
            payload={},
            status="processed",
        )

    stored("acct_1Gone", "account.application.authorized", when)
    stored("acct_1Gone", "account.application.deauthorized", when + dt.timedelta(hours=1))
    stored("acct_1Back", "account.application.deauthorized", when)
    stored("acct_1Back", "account.application.authorized", when + dt.timedelta(hours=1))
    stored("acct_1Tied", "account.application.authorized", when)
    stored("acct_1Tied", "account.application.deauthorized", when)

    apps = migrate([(APP, "0004_deauthorization_and_tie_order")])

    rows = apps.get_model(APP, "AccountAuthorization").objects.order_by("account")
    assert [(row.account, row.authorized) for row in rows] == [
        ("acct_1Back", True),
        ("acct_1Gone", False),
        ("acct_1Tied", False),
    ]
