"""A ``portal_session_created`` receiver that failed runs again on every later attempt
(Stripe's redelivery, a task retry, a replay): a retry is the whole dispatch again, even
though the session row the first attempt stored survived its failure."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.webhooks.process import Outcome, process_stored_event
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory
from tests.webhook_support import connected, post_signed

pytestmark = pytest.mark.django_db


class FailsOnce:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, sender: Any, portal_session: PortalSession, **kwargs: Any) -> None:
        self.calls.append(portal_session.stripe_id)
        if len(self.calls) == 1:
            raise ConnectionError("CRM down")


def _session_event() -> dict[str, Any]:
    session = so.portal_session(customer="cus_seen")
    session["return_url"] = "https://example.com/elsewhere/"
    return so.event("billing_portal.session.created", session)


def test_stripes_redelivery_calls_the_failed_receiver_again(client: Client) -> None:
    event, receiver = _session_event(), FailsOnce()
    with connected(signals.portal_session_created, receiver):
        assert post_signed(client, event).status_code == 500
        assert PortalSession.objects.filter(stripe_id=event["data"]["object"]["id"]).exists()
        assert post_signed(client, event).status_code == 200

    assert receiver.calls == [event["data"]["object"]["id"]] * 2
    assert WebhookEvent.objects.get(stripe_id=event["id"]).status == "processed"


def test_a_retry_and_a_replay_call_it_again(client: Client) -> None:
    event, receiver = _session_event(), FailsOnce()
    with connected(signals.portal_session_created, receiver):
        post_signed(client, event)
        assert process_stored_event(event["id"], nowait=False) == Outcome.PROCESSED
        call_command("replay_stripe_events", "--id", event["id"], stdout=None)

    assert len(receiver.calls) == 3
    assert PortalSession.objects.count() == 1


def test_a_session_the_app_opened_is_still_announced_by_the_redirect_view_only(
    client: Client,
) -> None:
    row = PortalSessionFactory(customer_id="cus_app")
    session = so.portal_session(id=row.stripe_id, customer="cus_app")
    receiver = FailsOnce()
    with connected(signals.portal_session_created, receiver):
        response = post_signed(client, so.event("billing_portal.session.created", session))
    assert response.status_code == 200
    assert receiver.calls == []
