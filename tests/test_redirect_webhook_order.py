"""The app's insert and the ``billing_portal.session.created`` webhook, in both orders."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import signing
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
    """Stripe may deliver the event before its answer to the create call reaches the app.
    The event carries the app's own signed return link, so only the app announces the
    session, once, with its user."""
    webhook_answers: list[int] = []

    def deliver_the_webhook_first(session: dict[str, Any]) -> None:
        event = make_event("billing_portal.session.created", session)
        webhook_answers.append(post_event(Client(), event).status_code)
        assert PortalSession.objects.get().source == "webhook"

    portal_api.before_answer = deliver_the_webhook_first

    signed_in.post(PORTAL, {"return_to": "/account/"})

    assert webhook_answers == [200]
    row = PortalSession.objects.get()
    assert (row.source, row.user, row.return_to) == ("app", customer_link.user, "/account/")
    assert [call["portal_session"].source for call in created_calls] == ["app"]
    assert created_calls[0]["portal_session"].user == customer_link.user


def test_a_session_opened_elsewhere_is_announced_by_the_webhook(
    portal_api: FakePortalApi, created_calls: Any
) -> None:
    """A return link this app did not sign (another app, the Dashboard, a forged token)."""
    signed_elsewhere = signing.TimestampSigner(key="another-secret", salt="x").sign("k")
    for return_url in (
        "https://example.com/account/",
        f"https://testserver/billing/return/{signed_elsewhere}/",
        None,
    ):
        session = stripe_objects.portal_session(customer="cus_elsewhere")
        session["return_url"] = return_url
        post_event(Client(), make_event("billing_portal.session.created", session))

    assert [call["portal_session"].source for call in created_calls] == ["webhook"] * 3


def _events() -> Any:

    return WebhookEvent.objects.all()
