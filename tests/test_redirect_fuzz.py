"""Arbitrary form values, Referers and return tokens: never a 500, never a redirect off
the allowed hosts (URLs ``urlsplit`` refuses, such as ``http://[``, included)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client, RequestFactory, override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_stripe_portal.portal.return_links import safe_return_to
from tests.hostile_json import bad_urls
from tests.portal_support import FakePortalApi

ALLOWED = {"testserver", "app.example.com"}
TEST_SETTINGS: dict[str, Any] = {
    "API_KEY": "sk_test_tests",
    "WEBHOOK_SECRETS": ["whsec_tests"],
    "ALLOWED_RETURN_HOSTS": ["app.example.com"],
}

# Text biased towards what open-redirect payloads are made of.
url_like = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, sep, host, path: f"{scheme}{sep}{host}{path}",
        st.sampled_from(["", "http:", "https:", "javascript:", "HTTPS:", " https:", "\t"]),
        st.sampled_from(["", "/", "//", "\\\\", "/\\", "///", "\\/"]),
        st.sampled_from(["", "evil.com", "testserver", "app.example.com", "testserver@evil.com"]),
        st.text(alphabet="/\\?#@:.%a\t\n ", max_size=12),
    ),
    bad_urls,
)


@settings(max_examples=400, deadline=None)
@given(candidate=url_like, secure=st.booleans())
@example(candidate="://", secure=False)  # found by this test: a relative path, not a URL
@example(candidate="http://[", secure=False)  # found by a probe: urlsplit raised ValueError
@example(candidate="/a\x00b", secure=False)  # kept, then PostgreSQL refused to store it
def test_a_kept_return_to_never_leaves_the_allowed_hosts(candidate: str, secure: bool) -> None:
    request = RequestFactory().get("/", secure=secure)
    with override_settings(STRIPE_PORTAL=TEST_SETTINGS):
        kept = safe_return_to(request, candidate)

    if kept is None:
        return
    as_browsers_read_it = "".join(c for c in kept if c not in "\t\r\n").replace("\\", "/")
    parts = urlsplit(as_browsers_read_it)
    assert parts.netloc in ("", *ALLOWED)
    assert parts.scheme in ("", "https") if secure else parts.scheme in ("", "http", "https")
    assert kept.startswith("/") or parts.netloc in ALLOWED
    assert not as_browsers_read_it.startswith("//")


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    form=st.fixed_dictionaries(
        {},
        optional={
            "flow": st.one_of(st.text(max_size=30), st.sampled_from(["subscription_cancel"])),
            "subscription": st.text(max_size=30),
            "price": st.text(max_size=30),
            "locale": st.text(max_size=8),
            "return_to": url_like,
            "customer": st.text(max_size=20),
        },
    ),
    referer=st.none() | url_like,
)
def test_any_form_is_answered_without_a_500(
    signed_in: Client, portal_api: FakePortalApi, form: dict[str, str], referer: str | None
) -> None:
    headers = {}
    if referer is not None and referer.isprintable():  # what an HTTP header can carry
        headers["Referer"] = referer
    with override_settings(STRIPE_PORTAL=TEST_SETTINGS):
        response = signed_in.post("/billing/portal/", form, headers=headers)

    assert response.status_code in (302, 303)
    location = response["Location"]
    if response.status_code == 303 and location.startswith("https://billing.stripe.com/"):
        return
    assert urlsplit(location).netloc in ("", *ALLOWED)


@pytest.mark.django_db
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(token=st.text(min_size=1, max_size=80).filter(lambda t: "/" not in t and t.isprintable()))
def test_any_return_token_ends_at_the_return_url(client: Client, token: str) -> None:
    with override_settings(STRIPE_PORTAL=TEST_SETTINGS):
        response = client.get(f"/billing/return/{quote(token, safe='')}/")
    assert response.status_code in (302, 404), response.status_code
    if response.status_code == 302:
        assert response["Location"] == "/"
