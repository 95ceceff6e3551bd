"""Signed and unsigned garbage thrown at ``stripe_portal:events``: never a 500, nothing
stored, and nothing fetched unless the body is a well-formed notification of this mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses as responses_lib
from django.conf import settings as django_settings
from django.test import Client, override_settings
from hypothesis import given
from hypothesis import strategies as st

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.testing import sign_payload
from tests.hostile_json import header_texts
from tests.test_webhook_fuzz import FUZZ, json_values
from tests.thin_support import DESTINATION_SECRET, EVENTS_URL

pytestmark = [pytest.mark.django_db, pytest.mark.off_contract]

#: Fields that are sometimes right, so that the fuzzing gets past the first checks.
notification_fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["evt_test_1", "evt_", "", "sub_1"]) | json_values,
        "object": st.sampled_from(["v2.core.event", "event"]) | json_values,
        "type": st.sampled_from(
            [
                "v1.customer.subscription.updated",
                "v1.customer.updated",
                "v2.core.event_destination.ping",
                "v1.entitlements.active_entitlement_summary.updated",
            ]
        )
        | json_values,
        "created": st.sampled_from(["2026-12-05T20:00:00.000Z", "2026-12-05", "0"]) | json_values,
        "livemode": st.booleans() | json_values,
        "context": st.sampled_from(["acct_1", "org_1/acct_2", "acct_1/../x"]) | json_values,
        "related_object": st.fixed_dictionaries(
            {"id": st.text(max_size=10), "type": st.text(max_size=10), "url": st.text(max_size=30)}
        )
        | json_values,
        "detail": json_values,
    },
)


@pytest.fixture(autouse=True)
def _destination_secret() -> Iterator[None]:
    portal = {
        **django_settings.STRIPE_PORTAL,
        "EVENT_DESTINATION_SECRETS": [DESTINATION_SECRET],
        "MAX_NETWORK_RETRIES": 0,
    }
    with override_settings(STRIPE_PORTAL=portal):
        yield


def _post(client: Client, body: str | bytes, header: str | None) -> Any:
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
    return client.post(EVENTS_URL, data=body, content_type="application/json", **extra)


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=300), st.text(max_size=300), json_values.map(json.dumps)),
    header=st.none() | header_texts,
)
def test_unsigned_garbage_is_refused_and_nothing_is_fetched(
    client: Client, stripe_mock: responses_lib.RequestsMock, body: Any, header: str | None
) -> None:
    calls = len(stripe_mock.calls)
    assert _post(client, body, header).status_code == 400
    assert len(stripe_mock.calls) == calls
    assert not WebhookEvent.objects.exists()


@FUZZ
@given(fields=notification_fields)
def test_signed_notifications_of_any_shape_never_answer_500(
    client: Client, stripe_mock: responses_lib.RequestsMock, fields: dict[str, Any]
) -> None:
    body = json.dumps(fields)
    calls = len(stripe_mock.calls)
    response = _post(client, body, sign_payload(body, DESTINATION_SECRET))
    # 503: a well-formed notification whose fetch nobody answers (no Stripe here).
    assert response.status_code in (200, 400, 503)
    if response.status_code == 400:
        assert len(stripe_mock.calls) == calls, "a refused notification fetches nothing"
    assert not WebhookEvent.objects.exists()
