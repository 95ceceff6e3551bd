"""What a thin event means, read as its snapshot twin would be: granular types, Connect
contexts, types without a related object, and notifications that are not Stripe's."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import responses as responses_lib
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client, override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from tests import contract
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.thin_support import (
    DESTINATION_SECRET,
    EVENTS_URL,
    STRIPE_API,
    answer,
    notification_of,
    post_thin,
    stripe_calls,
    v2_event,
)
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _destination_secret() -> Iterator[None]:
    portal = {**settings.STRIPE_PORTAL, "EVENT_DESTINATION_SECRETS": [DESTINATION_SECRET]}
    with override_settings(STRIPE_PORTAL=portal):
        yield


def _signature_of_bytes(body: bytes) -> str:
    """Stripe's signature over any bytes (``sign_payload`` takes text only)."""
    timestamp = int(time.time())
    mac = hmac.new(DESTINATION_SECRET.encode(), b"%d." % timestamp + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _older_row(sub: dict[str, Any], created: int) -> None:
    event = so.event("customer.subscription.created", sub, created=created - 60)
    assert post_signed(Client(), event).status_code == 200


def test_item_price_changed_without_changes_reads_the_old_price_from_the_stored_row(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    created = int(time.time())
    before = so.subscription(items=[("price_basic", 1)])
    _older_row(before, created)
    after = so.subscription(id=before["id"], items=[("price_pro", 1)])
    thin = v2_event("v1.customer.subscription.item_price_changed", after, created=created)
    answer(stripe_mock, thin, after)
    plan = Recorder()

    with connected(signals.subscription_plan_changed, plan):
        assert post_thin(client, notification_of(thin)).status_code == 200

    ((call,),) = [plan.calls]
    assert (call["previous_prices"], call["new_prices"]) == (["price_basic"], ["price_pro"])
    row = WebhookEvent.objects.get(stripe_id=thin["id"])  # no snapshot_event: its own id
    assert row.type == "customer.subscription.updated"
    assert StripeSubscription.objects.get(stripe_id=after["id"]).items[0]["price"] == "price_pro"


def test_a_granular_type_with_only_its_own_changes_still_tells_the_rest_of_the_action(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    created = int(time.time())
    before = so.subscription(items=[("price_basic", 1)])
    _older_row(before, created)
    after = so.subscription(id=before["id"], items=[("price_pro", 1)], cancel_at_period_end=True)
    thin = v2_event(
        "v1.customer.subscription.cancel_at_changed",
        after,
        changes={
            "before": {"cancel_at_period_end": False},
            "after": {"cancel_at_period_end": True},
        },
        created=created,
    )
    answer(stripe_mock, thin, after)
    plan, cancel = Recorder(), Recorder()

    with connected(signals.subscription_plan_changed, plan):
        with connected(signals.subscription_cancel_scheduled, cancel):
            assert post_thin(client, notification_of(thin)).status_code == 200

    assert len(cancel.calls) == 1
    assert [call["new_prices"] for call in plan.calls] == [["price_pro"]]


def test_the_changes_after_win_over_a_related_object_that_moved_on(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    """The object fetched now may already carry a later undo; the event's own change is
    read from ``changes`` and the stored row never goes backwards."""
    created = int(time.time())
    sub = so.subscription()
    _older_row(sub, created)
    now = {**sub, "cancel_at_period_end": False}  # scheduled, then undone since
    thin = v2_event(
        "v1.customer.subscription.updated",
        now,
        changes={
            "before": {"cancel_at_period_end": False},
            "after": {"cancel_at_period_end": True},
        },
        created=created,
    )
    answer(stripe_mock, thin, now)
    cancel = Recorder()

    with connected(signals.subscription_cancel_scheduled, cancel):
        assert post_thin(client, notification_of(thin)).status_code == 200

    assert len(cancel.calls) == 1


def test_a_connected_accounts_event_is_fetched_in_its_context_and_kept_on_its_account(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    sub = so.subscription(customer="cus_connected")
    thin = v2_event("v1.customer.subscription.created", sub, context="acct_1Connected")
    answer(stripe_mock, thin, sub)

    assert post_thin(client, notification_of(thin)).status_code == 200

    assert {call.request.headers.get("Stripe-Context") for call in stripe_mock.calls} == {
        "acct_1Connected"
    }
    assert WebhookEvent.objects.get(stripe_id=thin["id"]).account == "acct_1Connected"
    assert StripeSubscription.objects.get(stripe_id=sub["id"]).account == "acct_1Connected"


@contract.requires_openapi
def test_a_type_without_related_object_takes_the_snapshot_events_object(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    snapshot = copy.deepcopy(
        contract.fixtures()["constructed_third_build"][
            "event.entitlements.active_entitlement_summary.updated"
        ]
    )
    snapshot["id"] = so.unique_id("evt")
    thin = v2_event(
        "v1.entitlements.active_entitlement_summary.updated", None, snapshot_event=snapshot["id"]
    )
    answer(stripe_mock, thin)
    stripe_mock.get(f"{STRIPE_API}/v1/events/{snapshot['id']}", json=snapshot)
    summaries = Recorder()

    with connected(signals.event_signal(snapshot["type"]), summaries):
        assert post_thin(client, notification_of(thin)).status_code == 200

    ((call,),) = [summaries.calls]
    assert call["data"] == snapshot["data"]["object"]
    assert call["event"].received_via == WebhookEvent.ReceivedVia.EVENT_DESTINATION
    assert stripe_calls(stripe_mock) == [
        f"GET /v2/core/events/{thin['id']}",
        f"GET /v1/events/{snapshot['id']}",
    ]


def test_a_portal_session_seen_thin_keeps_no_session_url(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    session = so.portal_session()
    snapshot = so.event("billing_portal.session.created", session)
    thin = v2_event("v1.billing_portal.session.created", None, snapshot_event=snapshot["id"])
    answer(stripe_mock, thin)
    stripe_mock.get(f"{STRIPE_API}/v1/events/{snapshot['id']}", json=snapshot)

    assert post_thin(client, notification_of(thin)).status_code == 200

    assert PortalSession.objects.filter(stripe_id=session["id"]).exists()
    stored = json.dumps(WebhookEvent.objects.get(stripe_id=snapshot["id"]).payload)
    assert session["url"] not in stored


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"object": "event", "id": "evt_1", "type": "customer.updated"}).encode(),
        json.dumps(
            {
                "id": "evt_1",
                "object": "v2.core.event",
                "type": "v1.customer.updated",
                "created": "2026-12-05T20:00:00.000Z",
                "livemode": True,
            }
        ).encode(),
        json.dumps(
            {
                "id": "nope",
                "object": "v2.core.event",
                "type": "v1.customer.updated",
                "created": "2026-12-05T20:00:00.000Z",
                "livemode": False,
            }
        ).encode(),
        json.dumps(
            {
                "id": "evt_1",
                "object": "v2.core.event",
                "type": "v1.customer.updated",
                "created": "yesterday",
                "livemode": False,
            }
        ).encode(),
        json.dumps(
            {
                "id": "evt_1",
                "object": "v2.core.event",
                "type": "v1.customer.updated",
                "created": "2026-12-05T20:00:00.000Z",
                "livemode": False,
                "context": "acct_1\n",
            }
        ).encode(),
        # A typed notification without its related_object: the SDK's class cannot be built.
        json.dumps(
            {
                "id": "evt_1",
                "object": "v2.core.event",
                "type": "v1.customer.updated",
                "created": "2026-12-05T20:00:00.000Z",
                "livemode": False,
            }
        ).encode(),
    ],
)
def test_signed_bodies_that_are_not_stripes_notifications_are_refused_unfetched(
    body: bytes, client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    response = client.post(
        EVENTS_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=_signature_of_bytes(body),
    )

    assert response.status_code == 400
    assert len(stripe_mock.calls) == 0
    assert not WebhookEvent.objects.exists()


def test_without_a_destination_secret_every_notification_is_refused(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    sub = so.subscription()
    thin = v2_event("v1.customer.subscription.created", sub)
    portal = {**settings.STRIPE_PORTAL, "EVENT_DESTINATION_SECRETS": []}
    with override_settings(STRIPE_PORTAL=portal):
        response = post_thin(client, notification_of(thin))
    assert response.status_code == 400
    assert b"not configured" in response.content
    assert len(stripe_mock.calls) == 0


@pytest.mark.parametrize("value", ["whsec_x", ["sk_test_x"], [7]])
def test_the_system_check_names_an_ill_formed_destination_secret(value: Any) -> None:
    with override_settings(
        STRIPE_PORTAL={**settings.STRIPE_PORTAL, "EVENT_DESTINATION_SECRETS": value}
    ):
        ids = [message.id for message in run_checks()]
    assert "stripe_portal.E030" in ids


def test_customer_details_changed_thin_carries_changes_before_as_previous_attributes(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    customer = so.customer(id="cus_thin_details", email="new@example.com")
    thin = v2_event(
        "v1.customer.updated",
        customer,
        changes={"before": {"email": "old@example.com"}, "after": {"email": "new@example.com"}},
    )
    answer(stripe_mock, thin, customer)
    details = Recorder()

    with connected(signals.customer_details_changed, details):
        assert post_thin(client, notification_of(thin)).status_code == 200

    ((call,),) = [details.calls]
    assert call["customer_id"] == "cus_thin_details"
    assert call["previous_attributes"] == {"email": "old@example.com"}


def test_catch_up_finds_a_change_received_thin_already_stored(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    """Thin events are stored under the snapshot event's id: the Events API lists that id,
    so ``fetch_stripe_events`` receives nothing twice."""
    stripe_events = FakeStripeEvents(stripe_mock).install()
    sub = so.subscription(cancel_at_period_end=True)
    snapshot = stripe_events.create(
        "customer.subscription.created", sub, created=int(time.time()) - 60
    )
    thin = v2_event("v1.customer.subscription.created", sub, snapshot_event=snapshot["id"])
    answer(stripe_mock, thin, sub)
    assert post_thin(client, notification_of(thin)).status_code == 200

    out = StringIO()
    call_command("fetch_stripe_events", "--hours", "1", stdout=out, stderr=StringIO())

    assert "0 new, 1 already stored" in out.getvalue()
    assert WebhookEvent.objects.get().received_via == WebhookEvent.ReceivedVia.EVENT_DESTINATION
    assert stripe_events.refused == []
