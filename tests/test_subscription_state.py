"""``StripeSubscription`` kept from ``customer.subscription.*`` payloads alone, never moved
backwards by a late or duplicate delivery."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.state.subscriptions import SubscriptionWrite, record_subscription
from django_stripe_portal.webhooks import process, receive
from django_stripe_portal.webhooks.payload import current_period_end, subscription_values
from tests import stripe_objects as so
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = pytest.mark.django_db

T0 = int(time.time()) - 3600
SUB = "sub_state"


def _record(obj: dict[str, Any], when: dt.datetime) -> SubscriptionWrite:
    """Record a subscription payload the way a webhook does."""
    return record_subscription(obj["id"], subscription_values(obj), when)


def _sub(**kwargs: Any) -> dict[str, Any]:
    return so.subscription(id=SUB, customer="cus_state", **kwargs)


def _deliver(
    client: Client,
    event_type: str,
    obj: dict[str, Any],
    created: int,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = so.event(event_type, obj, previous_attributes=previous, created=created)
    assert post_signed(client, event).status_code == 200
    return event


def _stored() -> StripeSubscription:
    return StripeSubscription.objects.get(stripe_id=SUB)


def test_created_stores_the_payload_fields(client: Client) -> None:
    period_end = T0 + 30 * 86400
    sub = _sub(
        status="trialing", items=[("price_a", 2), ("price_b", 1)], current_period_end=period_end
    )
    _deliver(client, "customer.subscription.created", sub, T0)
    row = _stored()
    assert (row.customer_id, row.status, row.livemode) == ("cus_state", "trialing", False)
    assert [(i["price"], i["quantity"]) for i in row.items] == [("price_a", 2), ("price_b", 1)]
    assert row.current_period_end == dt.datetime.fromtimestamp(period_end, tz=dt.UTC)
    assert row.event_created_at == dt.datetime.fromtimestamp(T0, tz=dt.UTC)


def test_period_end_comes_from_the_subscription_on_older_api_versions() -> None:
    sub = _sub()
    for item in sub["items"]["data"]:
        del item["current_period_end"]
    sub["current_period_end"] = T0
    assert current_period_end(sub) == dt.datetime.fromtimestamp(T0, tz=dt.UTC)


def test_portal_lifecycle_active_cancel_scheduled_reactivated_canceled(client: Client) -> None:
    _deliver(client, "customer.subscription.created", _sub(), T0)
    assert (_stored().status, _stored().cancel_at_period_end) == ("active", False)

    _deliver(
        client,
        "customer.subscription.updated",
        _sub(cancel_at_period_end=True, cancellation_details={"feedback": "unused"}),
        T0 + 10,
        {"cancel_at_period_end": False},
    )
    row = _stored()
    assert (row.status, row.cancel_at_period_end) == ("active", True)
    assert row.cancellation_details["feedback"] == "unused"

    _deliver(
        client, "customer.subscription.updated", _sub(), T0 + 20, {"cancel_at_period_end": True}
    )
    assert _stored().cancel_at_period_end is False

    deleted = _sub(status="canceled", canceled_at=T0 + 30)
    _deliver(client, "customer.subscription.deleted", deleted, T0 + 30)
    row = _stored()
    assert (row.status, row.canceled_at) == (
        "canceled",
        dt.datetime.fromtimestamp(T0 + 30, tz=dt.UTC),
    )
    assert StripeSubscription.objects.count() == 1


def test_deleted_forces_canceled_even_if_the_payload_says_otherwise(client: Client) -> None:
    _deliver(client, "customer.subscription.deleted", _sub(status="active"), T0)
    assert _stored().status == "canceled"


def test_paused_and_resumed(client: Client) -> None:
    _deliver(client, "customer.subscription.paused", _sub(status="paused"), T0)
    assert _stored().status == "paused"
    assert WebhookEvent.objects.get(type="customer.subscription.paused").change_kind == "paused"
    _deliver(client, "customer.subscription.resumed", _sub(status="active"), T0 + 1)
    assert _stored().status == "active"
    assert WebhookEvent.objects.get(type="customer.subscription.resumed").change_kind == "resumed"


@pytest.mark.parametrize(
    ("before", "after"), [("trialing", "active"), ("active", "past_due"), ("past_due", "active")]
)
def test_status_transitions(client: Client, before: str, after: str) -> None:
    _deliver(client, "customer.subscription.created", _sub(status=before), T0)
    _deliver(
        client, "customer.subscription.updated", _sub(status=after), T0 + 5, {"status": before}
    )
    assert _stored().status == after


def test_plan_and_quantity_changes_are_stored(client: Client) -> None:
    _deliver(client, "customer.subscription.created", _sub(items=[("price_basic", 1)]), T0)
    _deliver(
        client,
        "customer.subscription.updated",
        _sub(items=[("price_pro", 3)]),
        T0 + 5,
        {"items": {"object": "list", "data": [so.subscription_item("price_basic", 1)]}},
    )
    assert [(i["price"], i["quantity"]) for i in _stored().items] == [("price_pro", 3)]


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_older_event_never_overwrites_a_newer_one(client: Client, order: str) -> None:
    older = (_sub(cancel_at_period_end=True), T0)
    newer = (_sub(cancel_at_period_end=False, items=[("price_pro", 1)]), T0 + 60)
    deliveries = [older, newer] if order == "in order" else [newer, older]
    for obj, created in deliveries:
        _deliver(client, "customer.subscription.updated", obj, created)
    row = _stored()
    assert (row.cancel_at_period_end, row.price_ids) == (False, ["price_pro"])
    assert row.event_created_at == dt.datetime.fromtimestamp(T0 + 60, tz=dt.UTC)


def test_same_second_later_delivery_wins(client: Client) -> None:
    _deliver(client, "customer.subscription.updated", _sub(items=[("price_a", 1)]), T0)
    _deliver(client, "customer.subscription.updated", _sub(items=[("price_b", 1)]), T0)
    assert _stored().price_ids == ["price_b"]


def test_same_second_update_cannot_revive_a_deleted_subscription(client: Client) -> None:
    _deliver(client, "customer.subscription.deleted", _sub(status="canceled"), T0)
    _deliver(client, "customer.subscription.updated", _sub(status="active"), T0)
    assert _stored().status == "canceled"


def test_late_update_after_deletion_keeps_it_canceled(client: Client) -> None:
    _deliver(client, "customer.subscription.deleted", _sub(status="canceled"), T0 + 60)
    _deliver(
        client,
        "customer.subscription.updated",
        _sub(cancel_at_period_end=True),
        T0,
        {"cancel_at_period_end": False},
    )
    assert _stored().status == "canceled"


def test_late_event_still_signals_with_the_newer_state_and_stale_flag(client: Client) -> None:
    _deliver(
        client,
        "customer.subscription.updated",
        _sub(cancel_at_period_end=False),
        T0 + 60,
        {"cancel_at_period_end": True},
    )
    recorder = Recorder()
    with connected(signals.subscription_cancel_scheduled, recorder):
        _deliver(
            client,
            "customer.subscription.updated",
            _sub(cancel_at_period_end=True),
            T0,
            {"cancel_at_period_end": False},
        )
    (call,) = recorder.calls
    assert call["stale"] is True
    assert call["subscription"].cancel_at_period_end is False  # the newer, stored state


def test_duplicate_delivery_changes_nothing(client: Client) -> None:
    event = _deliver(client, "customer.subscription.updated", _sub(status="past_due"), T0)
    _deliver(client, "customer.subscription.updated", _sub(status="active"), T0 + 5)
    assert post_signed(client, event).status_code == 200  # the first one again
    assert _stored().status == "active"
    assert WebhookEvent.objects.get(stripe_id=event["id"]).attempts == 1


def test_record_subscription_reports_stale_writes() -> None:
    when = dt.datetime.fromtimestamp(T0, tz=dt.UTC)
    first = _record(_sub(status="active"), when)
    assert first.applied
    again = _record(_sub(status="past_due"), when + dt.timedelta(seconds=5))
    assert (again.applied, again.subscription.pk) == (True, first.subscription.pk)
    assert StripeSubscription.objects.count() == 1
    stale = _record(_sub(status="trialing"), when)
    assert (stale.applied, stale.subscription.status) == (False, "past_due")


def test_the_returned_row_is_the_stored_row() -> None:
    when = dt.datetime.fromtimestamp(T0, tz=dt.UTC)
    for status in ("active", "past_due"):
        written = _record(_sub(status=status), when).subscription
        stored = StripeSubscription.objects.get(pk=written.pk)
        assert (written.status, written.updated) == (stored.status, stored.updated)


def test_a_state_write_that_cannot_be_prepared_is_kept_failed_and_retried(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Preparing happens before the transaction; a failure there must still end as a
    failed event that each redelivery processes again, as a failure inside does."""

    def cannot_prepare(*args: Any, **kwargs: Any) -> None:
        raise ValueError("cannot prepare")

    monkeypatch.setattr(receive, "prepare_state_write", cannot_prepare)
    monkeypatch.setattr(process, "prepare_state_write", cannot_prepare)
    event = so.event("customer.subscription.updated", _sub(status="active"), created=T0)

    assert [post_signed(client, event).status_code for _ in range(2)] == [500, 500]

    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.FAILED, 2)
    assert "cannot prepare" in row.last_error
    assert not StripeSubscription.objects.exists()
