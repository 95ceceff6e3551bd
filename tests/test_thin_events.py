"""``stripe_portal:events``: thin notifications verified, their events fetched, then stored
once and dispatched exactly as a snapshot delivery of the same change."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses as responses_lib
from django.test import Client, override_settings

from django_stripe_portal import signals
from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.thin_support import (
    DESTINATION_SECRET,
    STRIPE_API,
    answer,
    notification_of,
    post_thin,
    stripe_calls,
    v2_event,
)
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = pytest.mark.django_db(transaction=True)

Via = WebhookEvent.ReceivedVia


@pytest.fixture(autouse=True)
def _destination_secret() -> Iterator[None]:
    with override_settings(
        STRIPE_PORTAL={**get_portal_settings(), "EVENT_DESTINATION_SECRETS": [DESTINATION_SECRET]}
    ):
        yield


def get_portal_settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.STRIPE_PORTAL)


@pytest.fixture
def cancel_scheduled() -> Iterator[Recorder]:
    recorder = Recorder()
    with connected(signals.subscription_cancel_scheduled, recorder):
        yield recorder


@pytest.fixture
def received() -> Iterator[Recorder]:
    recorder = Recorder()
    with connected(signals.webhook_received, recorder):
        yield recorder


def _stored_subscription(sub: dict[str, Any], created: int) -> None:
    """The row an older snapshot event left."""
    post = post_signed(
        Client(), so.event("customer.subscription.created", sub, created=created - 60)
    )
    assert post.status_code == 200


def _scheduled_change(
    stripe_mock: responses_lib.RequestsMock,
    *,
    thin_type: str = "v1.customer.subscription.updated",
    with_changes: bool = True,
    snapshot_event: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A subscription whose cancellation was just scheduled: (object now, thin event,
    snapshot event of the same action)."""
    created = int(time.time())
    before = so.subscription(customer="cus_thin")
    _stored_subscription(before, created)
    after = {**before, "cancel_at_period_end": True}
    changes = (
        {"before": {"cancel_at_period_end": False}, "after": {"cancel_at_period_end": True}}
        if with_changes
        else None
    )
    snapshot = so.event(
        "customer.subscription.updated",
        after,
        previous_attributes={"cancel_at_period_end": False},
        created=created,
        id=snapshot_event,
    )
    thin = v2_event(
        thin_type,
        after,
        changes=changes,
        snapshot_event=snapshot["id"],
        created=created,
    )
    answer(stripe_mock, thin, after)
    return after, thin, snapshot


def test_a_thin_update_dispatches_the_domain_signal_once_stored(
    client: Client,
    stripe_mock: responses_lib.RequestsMock,
    cancel_scheduled: Recorder,
) -> None:
    after, thin, snapshot = _scheduled_change(stripe_mock)
    stripe_mock.calls.reset()

    response = post_thin(client, notification_of(thin))

    assert response.status_code == 200, response.content
    assert len(cancel_scheduled.calls) == 1
    assert cancel_scheduled.calls[0]["subscription"].cancel_at_period_end is True
    row = WebhookEvent.objects.get(stripe_id=snapshot["id"])
    assert (row.type, row.received_via, row.status) == (
        "customer.subscription.updated",
        Via.EVENT_DESTINATION,
        WebhookEvent.Status.PROCESSED,
    )
    assert row.payload["thin_event"]["id"] == thin["id"]
    assert row.change_kind == "cancel_scheduled"
    assert stripe_calls(stripe_mock) == [
        f"GET /v2/core/events/{thin['id']}",
        f"GET /v1/subscriptions/{after['id']}",
    ]
    assert StripeSubscription.objects.get(stripe_id=after["id"]).cancel_at_period_end


def test_signed_wrongly_is_refused_and_nothing_is_fetched(
    client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    _, thin, _ = _scheduled_change(stripe_mock)
    stripe_mock.calls.reset()

    wrong = post_thin(client, notification_of(thin), secret="whsec_someone_else")
    unsigned = client.post(
        "/billing/events/", data=json.dumps(notification_of(thin)), content_type="application/json"
    )
    snapshot_secret = post_thin(client, notification_of(thin), secret="whsec_tests")

    assert [wrong.status_code, unsigned.status_code, snapshot_secret.status_code] == [400] * 3
    assert stripe_mock.calls == [] or len(stripe_mock.calls) == 0
    assert not WebhookEvent.objects.filter(received_via=Via.EVENT_DESTINATION).exists()


def test_redelivered_is_dispatched_once(
    client: Client, stripe_mock: responses_lib.RequestsMock, cancel_scheduled: Recorder
) -> None:
    _, thin, _ = _scheduled_change(stripe_mock)

    answers = [post_thin(client, notification_of(thin)).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert len(cancel_scheduled.calls) == 1
    assert WebhookEvent.objects.filter(received_via=Via.EVENT_DESTINATION).count() == 1


def test_an_unknown_type_answers_200_and_dispatches_nothing(
    client: Client, stripe_mock: responses_lib.RequestsMock, received: Recorder
) -> None:
    unknown = v2_event("v2.core.event_destination.ping", None)
    unknown["related_object"] = {
        "id": "ed_test_1",
        "type": "v2.core.event_destination",
        "url": "/v2/core/event_destinations/ed_test_1",
    }
    not_in_sdk = v2_event("v1.customer.subscription.teleported", None)

    answers = [post_thin(client, notification_of(e)).status_code for e in (unknown, not_in_sdk)]

    assert answers == [200, 200]
    assert received.calls == []
    assert len(stripe_mock.calls) == 0
    assert not WebhookEvent.objects.exists()


def test_a_fetch_that_fails_answers_503_and_stores_nothing(
    client: Client, stripe_mock: responses_lib.RequestsMock, received: Recorder
) -> None:
    sub = so.subscription()
    thin = v2_event("v1.customer.subscription.updated", sub)
    answer(stripe_mock, thin, sub, event_status=500)

    response = post_thin(client, notification_of(thin))

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()
    assert not StripeSubscription.objects.exists()
    assert received.calls == []
    # The SDK retried (MAX_NETWORK_RETRIES) before giving up.
    assert len(stripe_mock.calls) == 1 + get_settings().MAX_NETWORK_RETRIES


@pytest.mark.parametrize("first", ["snapshot", "thin"])
def test_the_same_change_by_both_doors_is_dispatched_once(
    first: str,
    client: Client,
    stripe_mock: responses_lib.RequestsMock,
    cancel_scheduled: Recorder,
) -> None:
    _, thin, snapshot = _scheduled_change(stripe_mock)

    def by_snapshot() -> int:
        return int(post_signed(client, snapshot).status_code)

    def by_thin() -> int:
        return int(post_thin(client, notification_of(thin)).status_code)

    doors = [by_snapshot, by_thin] if first == "snapshot" else [by_thin, by_snapshot]
    assert [door() for door in doors] == [200, 200]

    assert len(cancel_scheduled.calls) == 1
    row = WebhookEvent.objects.get(stripe_id=snapshot["id"])
    assert row.received_via == (Via.WEBHOOK if first == "snapshot" else Via.EVENT_DESTINATION)
    assert WebhookEvent.objects.count() == 2  # the older creation event, and this change


@pytest.mark.parametrize(
    ("thin_type", "with_changes"),
    [
        ("v1.customer.subscription.updated", False),
        ("v1.customer.subscription.cancel_at_changed", True),
        ("v1.customer.subscription.cancel_at_changed", False),
    ],
)
def test_without_changes_the_meaning_comes_from_the_stored_row_or_the_type(
    thin_type: str,
    with_changes: bool,
    client: Client,
    stripe_mock: responses_lib.RequestsMock,
    cancel_scheduled: Recorder,
) -> None:
    _, thin, _ = _scheduled_change(stripe_mock, thin_type=thin_type, with_changes=with_changes)

    assert post_thin(client, notification_of(thin)).status_code == 200

    assert len(cancel_scheduled.calls) == 1


def test_a_related_object_fetch_that_fails_answers_503_and_stores_nothing(
    client: Client, stripe_mock: responses_lib.RequestsMock, received: Recorder
) -> None:
    sub = so.subscription()
    thin = v2_event("v1.customer.subscription.updated", sub)
    answer(stripe_mock, thin)
    stripe_mock.get(
        f"{STRIPE_API}/v1/subscriptions/{sub['id']}",
        status=500,
        json={"error": {"type": "api_error", "message": "down"}},
    )

    response = post_thin(client, notification_of(thin))

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists() and not StripeSubscription.objects.exists()
    assert received.calls == []


@pytest.mark.parametrize(
    "url", ["https://elsewhere.example/v1/x", "/v1/subscriptions/../customers", "/v1/a?b=c"]
)
def test_a_related_object_url_outside_stripes_api_is_refused_unfetched(
    url: str, client: Client, stripe_mock: responses_lib.RequestsMock
) -> None:
    sub = so.subscription()
    thin = v2_event("v1.customer.subscription.updated", sub)
    thin["related_object"]["url"] = url

    assert post_thin(client, notification_of(thin)).status_code == 400
    assert len(stripe_mock.calls) == 0


def test_a_wrong_signature_is_logged_with_the_setting_to_check(
    client: Client, stripe_mock: responses_lib.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    _, thin, _ = _scheduled_change(stripe_mock)

    assert post_thin(client, notification_of(thin), secret="whsec_tests").status_code == 400

    (line,) = [r.getMessage() for r in caplog.records if "thin event refused" in r.getMessage()]
    assert "signature mismatch" in line and "EVENT_DESTINATION_SECRETS" in line
    assert "whsec_" not in line
