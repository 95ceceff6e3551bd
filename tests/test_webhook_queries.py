"""The hot path stays lean: at most 4 queries for a new ``customer.subscription.updated``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory, StripeSubscriptionFactory
from tests.webhook_support import post_signed


def _an_hour_ago() -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=1)


def _plan_change(sub_id: str) -> dict[str, Any]:
    sub = so.subscription(id=sub_id, customer="cus_q", items=[("price_pro", 1)])
    previous_items = {"object": "list", "data": [so.subscription_item("price_basic", 1)]}
    return so.event(
        "customer.subscription.updated", sub, previous_attributes={"items": previous_items}
    )


@pytest.mark.django_db(transaction=True)
def test_new_subscription_update_takes_at_most_4_queries(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    """Outside a test transaction, as in production (the view is non-atomic): the count
    is what Django captures for one request."""
    StripeSubscriptionFactory(
        stripe_id="sub_q", customer_id="cus_q", event_created_at=_an_hour_ago()
    )
    visit = PortalSessionFactory(
        customer_id="cus_q", created_at=timezone.now() - dt.timedelta(minutes=5)
    )
    event = _plan_change("sub_q")
    with django_assert_max_num_queries(4) as captured:
        assert post_signed(client, event).status_code == 200
    row = WebhookEvent.objects.get()
    assert (row.status, row.change_kind, row.portal_session_id) == (
        "processed",
        "plan_changed",
        visit.pk,
    )
    assert StripeSubscription.objects.get().price_ids == ["price_pro"]
    sqls = [q["sql"] for q in captured.captured_queries]
    assert any("INSERT" in sql and "webhookevent" in sql for sql in sqls)
    assert any("UPDATE" in sql and "stripesubscription" in sql for sql in sqls)


@pytest.mark.django_db(transaction=True)
def test_a_subscription_never_seen_before_is_written_by_one_statement(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(4) as captured:
        assert post_signed(client, _plan_change("sub_new")).status_code == 200
    writes = [q["sql"] for q in captured.captured_queries if "stripesubscription" in q["sql"]]
    assert len(writes) == 1 and "ON CONFLICT" in writes[0].upper()
    assert StripeSubscription.objects.get(stripe_id="sub_new").price_ids == ["price_pro"]


@pytest.mark.django_db
def test_inside_an_outer_transaction_only_the_savepoint_pair_is_added(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    StripeSubscriptionFactory(
        stripe_id="sub_q2", customer_id="cus_q", event_created_at=_an_hour_ago()
    )
    with django_assert_max_num_queries(4):
        assert post_signed(client, _plan_change("sub_q2")).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_receivers_that_do_not_touch_the_database_cost_no_savepoint(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    """One receiver on every signal the event sends, none of them querying: the delivery
    costs what it costs with no receivers at all."""
    from django_stripe_portal import signals

    calls: list[str] = []

    def no_op(sender: Any, **kwargs: Any) -> None:
        calls.append("called")

    StripeSubscriptionFactory(
        stripe_id="sub_n", customer_id="cus_q", event_created_at=_an_hour_ago()
    )
    baseline = _plan_change("sub_n")
    with django_assert_max_num_queries(4) as without_receivers:
        assert post_signed(client, baseline).status_code == 200
    receivers = [
        signals.webhook_received,
        signals.event_signal("customer.subscription.updated"),
        signals.subscription_plan_changed,
    ]
    for signal in receivers:
        signal.connect(no_op, weak=False)
    try:
        event = _plan_change("sub_n")
        event["created"] = baseline["created"] + 1
        with django_assert_max_num_queries(len(without_receivers.captured_queries)) as captured:
            assert post_signed(client, event).status_code == 200
    finally:
        for signal in receivers:
            signal.disconnect(no_op)
    assert len(calls) == 3
    assert not any("SAVEPOINT" in q["sql"] for q in captured.captured_queries)
