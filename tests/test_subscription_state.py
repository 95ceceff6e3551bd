"""``StripeSubscription`` kept from ``customer.subscription.*`` payloads alone, never moved
backwards by a late or duplicate delivery."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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


DOMAIN_SIGNAL_NAMES = [
    "subscription_plan_changed",
    "subscription_quantity_changed",
    "subscription_cancel_scheduled",
    "subscription_reactivated",
    "subscription_canceled",
    "subscription_paused",
    "subscription_resumed",
    "retention_offer_accepted",
    "payment_method_changed",
    "customer_details_changed",
    "portal_configuration_changed",
]


@contextmanager
def _every_signal() -> Iterator[dict[str, Recorder]]:
    """A recorder on every domain signal, ``webhook_received`` and the per-type signals."""
    recorders = {name: Recorder() for name in [*DOMAIN_SIGNAL_NAMES, "webhook_received"]}
    per_type = ["customer.subscription.updated", "customer.subscription.deleted"]
    recorders.update({f"on:{name}": Recorder() for name in per_type})
    with ExitStack() as stack:
        for name, recorder in recorders.items():
            signal = (
                signals.event_signal(name[3:]) if name.startswith("on:") else getattr(signals, name)
            )
            stack.enter_context(connected(signal, recorder))
        yield recorders


def _sent(recorders: dict[str, Recorder]) -> dict[str, list[bool]]:
    return {name: [call["stale"] for call in r.calls] for name, r in recorders.items() if r.calls}


def test_a_late_event_sends_no_domain_signal_only_the_generic_ones_marked_stale(
    client: Client,
) -> None:
    """Issue 22, item 8: domain signals speak of what is true now. A late cancellation
    request (older than the reactivation stored) is not news; a receiver that does not
    read ``stale`` would act on it."""
    _deliver(
        client,
        "customer.subscription.updated",
        _sub(cancel_at_period_end=False),
        T0 + 60,
        {"cancel_at_period_end": True},
    )
    with _every_signal() as recorders:
        _deliver(
            client,
            "customer.subscription.updated",
            _sub(cancel_at_period_end=True, items=[("price_new", 3)]),
            T0,
            {"cancel_at_period_end": False, "items": _sub(items=[("price_old", 1)])["items"]},
        )
    assert _sent(recorders) == {
        "webhook_received": [True],
        "on:customer.subscription.updated": [True],
    }
    assert _stored().cancel_at_period_end is False  # the newer, stored state


def test_a_late_plan_change_after_a_deletion_sends_no_plan_change(client: Client) -> None:
    """The probe's case: the subscription is gone; its plan did not change now."""
    _deliver(client, "customer.subscription.deleted", _sub(status="canceled"), T0 + 60)
    with _every_signal() as recorders:
        _deliver(
            client,
            "customer.subscription.updated",
            _sub(items=[("price_new", 1)]),
            T0,
            {"items": _sub(items=[("price_old", 1)])["items"]},
        )
    assert _sent(recorders) == {
        "webhook_received": [True],
        "on:customer.subscription.updated": [True],
    }


def test_an_event_in_order_sends_its_domain_signals_not_stale(client: Client) -> None:
    _deliver(client, "customer.subscription.updated", _sub(cancel_at_period_end=False), T0)
    with _every_signal() as recorders:
        _deliver(
            client,
            "customer.subscription.updated",
            _sub(cancel_at_period_end=True),
            T0 + 60,
            {"cancel_at_period_end": False},
        )
    assert _sent(recorders) == {
        "webhook_received": [False],
        "on:customer.subscription.updated": [False],
        "subscription_cancel_scheduled": [False],
    }


def test_a_deletion_overtaken_by_a_later_update_still_says_canceled(client: Client) -> None:
    """The one exception: the subscription has ended (that is true now) and the update
    that overtook the deletion sent no subscription_canceled, so without this signal a
    win-back flow would never hear of the cancellation."""
    _deliver(client, "customer.subscription.updated", _sub(status="canceled"), T0 + 60)
    with _every_signal() as recorders:
        _deliver(client, "customer.subscription.deleted", _sub(status="canceled"), T0)
    assert _sent(recorders) == {
        "webhook_received": [True],
        "on:customer.subscription.deleted": [True],
        "subscription_canceled": [True],
    }
    (call,) = recorders["subscription_canceled"].calls
    assert call["subscription"].status == "canceled"


def test_a_late_deletion_of_a_subscription_that_is_live_says_nothing(client: Client) -> None:
    """Stripe never revives a subscription, so a stored live state newer than a deletion
    is not Stripe's; nothing "canceled" is true now."""
    _deliver(client, "customer.subscription.updated", _sub(status="active"), T0 + 60)
    with _every_signal() as recorders:
        _deliver(client, "customer.subscription.deleted", _sub(status="canceled"), T0)
    assert "subscription_canceled" not in _sent(recorders)


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
