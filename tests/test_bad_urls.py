"""URLs that ``urlsplit`` refuses (``http://[``: an IPv6 host never closed) wherever an
attacker or a careless setting can put one: never a 500 (issue 22, items 3 and 4).

``urlsplit`` raises ``ValueError`` for them; Django's own ``url_has_allowed_host_and_scheme``
catches it, but the app split such URLs itself first.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from django_stripe_portal import signals
from django_stripe_portal.checks import check_settings
from django_stripe_portal.client import api_host
from django_stripe_portal.models import PortalSession, WebhookEvent
from django_stripe_portal.portal.return_links import (
    is_own_return_link,
    new_return_key,
    safe_return_to,
    sign_return_key,
)
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory
from tests.portal_support import FakePortalApi
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = pytest.mark.django_db

#: What the probe sent, and its relatives: each makes urlsplit raise ValueError.
BAD_URLS = ["http://[", "https://[::1", "http://]", "//[", "http://a]b/", "https://[x]y/"]
TEST_SETTINGS: dict[str, Any] = {"API_KEY": "sk_test_tests", "WEBHOOK_SECRETS": ["whsec_tests"]}


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_helpers_say_no_instead_of_raising(url: str) -> None:
    request = RequestFactory().get("/")
    with override_settings(STRIPE_PORTAL=TEST_SETTINGS):
        assert safe_return_to(request, url) is None
        assert is_own_return_link(url) is False


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_portal_session_event_with_a_bad_return_url_is_processed(
    client: Client, url: str
) -> None:
    """Item 3: it was a 500 and a row failed for good. A return_url that is not a URL is
    not this app's return link: the session is recorded and announced like any other."""
    session = so.portal_session(customer="cus_elsewhere", return_url=url)
    event = so.event("billing_portal.session.created", session)
    created = Recorder()
    with connected(signals.portal_session_created, created):
        response = post_signed(client, event)
    assert (response.status_code, response.content) == (200, b"processed")
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert PortalSession.objects.get().stripe_id == session["id"]
    assert len(created.calls) == 1


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_signed_in_post_with_a_bad_return_to_opens_the_portal(
    signed_in: Client, portal_api: FakePortalApi, url: str
) -> None:
    """Item 4: the return_to is dropped for RETURN_URL, as any unsafe one is."""
    response = signed_in.post("/billing/portal/", {"return_to": url})
    assert response.status_code == 303
    assert PortalSession.objects.get().return_to == "/"


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_refused_click_with_a_bad_referer_goes_back_to_the_return_url(
    signed_in: Client, portal_api: FakePortalApi, url: str
) -> None:
    """Item 4: a refusal sends the user "back": the bad Referer is not a place to go."""
    response = signed_in.post(
        "/billing/portal/", {"flow": "nonsense", "return_to": url}, headers={"Referer": url}
    )
    assert (response.status_code, response["Location"]) == (302, "/")
    assert portal_api.calls == []


@pytest.mark.parametrize("return_to", ["/a\x00b", "/\x01", "/account/\x7f"])
def test_a_return_to_with_a_control_character_is_dropped(
    signed_in: Client, portal_api: FakePortalApi, return_to: str
) -> None:
    """Found probing PostgreSQL: "/a\x00b" was kept, then the insert of the visit raised."""
    response = signed_in.post("/billing/portal/", {"return_to": return_to})
    assert response.status_code == 303
    assert PortalSession.objects.get().return_to == "/"


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_stored_bad_return_to_ends_at_the_return_url(client: Client, url: str) -> None:
    """A row written before this check (or by hand) is checked again on the way back."""
    key = new_return_key()
    PortalSessionFactory(return_key=key, return_to=url)
    response = client.get(reverse("stripe_portal:return", args=[sign_return_key(key)]))
    assert (response.status_code, response["Location"]) == (302, "/")


@pytest.mark.parametrize("url", ["https://[", "http://["])
def test_a_bad_return_url_setting_is_a_system_check_error(url: str) -> None:
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "RETURN_URL": url}):
        errors = [message for message in check_settings(None) if message.id.endswith("E007")]
    assert len(errors) == 1
    assert "cannot become an absolute URL" in errors[0].msg


def test_a_bad_api_base_is_named_as_written() -> None:
    with override_settings(STRIPE_PORTAL={**TEST_SETTINGS, "API_BASE": "http://["}):
        assert api_host() == "http://["


def test_setup_stripe_webhook_refuses_a_bad_url_with_a_message() -> None:
    with override_settings(STRIPE_PORTAL=TEST_SETTINGS), pytest.raises(CommandError) as error:
        call_command("setup_stripe_webhook", url="https://[", stdout=StringIO())
    assert "public https:// URL" in str(error.value)
