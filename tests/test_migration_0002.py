"""Migration 0002 forwards from 0001 with rows in every table: each becomes a platform
row (``account=""``), nothing is lost, and the new per-account constraints hold.

Runs on whichever database the suite uses (SQLite by default, PostgreSQL with
``DATABASE_URL``), through Django's own ``MigrationExecutor``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from tests.migration_states import APP, back_at, migrate

AFTER = [(APP, "0002_second_build")]
WHEN = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def at_0001() -> Iterator[Any]:
    yield from back_at("0001_initial")


def test_0002_keeps_every_row_as_a_platform_row(at_0001: Any) -> None:
    old = at_0001
    user = old.get_model("auth", "User").objects.create(username="before-0002")
    config = old.get_model(APP, "PortalConfiguration").objects.create(
        key="default", stripe_id="bpc_before0002", stripe_data={"id": "bpc_before0002"}
    )
    old.get_model(APP, "StripeCustomer").objects.create(user=user, customer_id="cus_before0002")
    session = old.get_model(APP, "PortalSession").objects.create(
        stripe_id="bps_before0002",
        customer_id="cus_before0002",
        user=user,
        configuration=config,
        created_at=WHEN,
        return_key="key-before-0002",
    )
    old.get_model(APP, "StripeSubscription").objects.create(
        stripe_id="sub_before0002",
        customer_id="cus_before0002",
        status="active",
        items=[{"id": "si_1", "price": "price_basic", "quantity": 1}],
        event_created_at=WHEN,
    )
    old.get_model(APP, "WebhookEvent").objects.create(
        stripe_id="evt_before0002",
        type="customer.subscription.updated",
        created_at=WHEN,
        payload={"id": "evt_before0002"},
        portal_session=session,
    )

    new = migrate(AFTER)

    customer = new.get_model(APP, "StripeCustomer").objects.get()
    assert (customer.user_id, customer.customer_id, customer.account) == (
        user.pk,
        "cus_before0002",
        "",
    )
    configuration = new.get_model(APP, "PortalConfiguration").objects.get()
    assert (configuration.stripe_id, configuration.account) == ("bpc_before0002", "")
    assert configuration.stripe_data == {"id": "bpc_before0002"}
    visit = new.get_model(APP, "PortalSession").objects.get()
    assert (visit.account, visit.retention_coupon, visit.configuration_id) == (
        "",
        "",
        configuration.pk,
    )
    assert visit.return_key == "key-before-0002"
    subscription = new.get_model(APP, "StripeSubscription").objects.get()
    assert (subscription.account, subscription.pause_collection, subscription.status) == (
        "",
        None,
        "active",
    )
    event = new.get_model(APP, "WebhookEvent").objects.get()
    assert (event.received_via, event.next_attempt_at, event.portal_session_id) == (
        "webhook",
        None,
        visit.pk,
    )

    # After 0002: a second link of the same user on a connected account is allowed …
    links = new.get_model(APP, "StripeCustomer").objects
    links.create(user=customer.user, customer_id="cus_onaccount01", account="acct_1Migrated0001")
    # … a second one on the platform is not …
    with pytest.raises(IntegrityError), transaction.atomic():
        links.create(user=customer.user, customer_id="cus_another0001", account="")
    # … and each account holds its own configuration under the same key and mode.
    configurations = new.get_model(APP, "PortalConfiguration").objects
    configurations.create(key="default", stripe_id="bpc_onaccount01", account="acct_1Migrated0001")
    with pytest.raises(IntegrityError), transaction.atomic():
        configurations.create(key="default", stripe_id="bpc_platform002", account="")
