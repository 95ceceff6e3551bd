"""The app's insert and the ``billing_portal.session.created`` webhook, in both orders."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.signals import portal_session_created
from django_stripe_portal.testing import make_event, post_event
from tests import stripe_objects
from tests.portal_support import FakePortalApi

pytestmark = pytest.mark.django_db
PORTAL = "/billing/portal/"


@pytest.fixture
def created_calls() -> Any:
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    portal_session_created.connect(receiver)
    yield calls
    portal_session_created.disconnect(receiver)


def test_app_first_then_webhook(
    signed_in: Client, portal_api: FakePortalApi, customer_link: Any, created_calls: Any
) -> None:
    signed_in.post(PORTAL, {"return_to": "/account/"})
    session = portal_api.answered[-1]

    response = post_event(Client(), make_event("billing_portal.session.created", session))

    assert response.status_code == 200
    row = PortalSession.objects.get()
    assert (row.source, row.user, row.return_to) == ("app", customer_link.user, "/account/")
    assert len(created_calls) == 1  # the webhook found the row and sent nothing more
    stored = json.dumps([row.payload for row in _events()])
    assert session["url"] not in stored


def test_webhook_first_then_app(
    signed_in: Client, portal_api: FakePortalApi, customer_link: Any, created_calls: Any
) -> None:
    # Stripe may deliver the event before its answer to the create call reaches the app.
    early = stripe_objects.portal_session(id="bps_racewebhook1", customer=customer_link.customer_id)
    assert (
        post_event(Client(), make_event("billing_portal.session.created", early)).status_code == 200
    )
    assert PortalSession.objects.get().source == "webhook"
    portal_api.session_id = "bps_racewebhook1"

    signed_in.post(PORTAL, {"return_to": "/account/"})

    row = PortalSession.objects.get()
    assert (row.stripe_id, row.source) == ("bps_racewebhook1", "app")
    assert (row.user, row.return_to) == (customer_link.user, "/account/")
    assert [call["portal_session"].source for call in created_calls] == ["webhook", "app"]


def _events() -> Any:

    return WebhookEvent.objects.all()
