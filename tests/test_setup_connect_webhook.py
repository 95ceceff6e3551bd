"""setup_stripe_webhook --connect: the Connect endpoint (connect=true), beside the
platform's, its events, and its secret printed once for CONNECT_WEBHOOK_SECRETS."""

from __future__ import annotations

import logging

import pytest
import responses

from django_stripe_portal.endpoint_setup import (
    CONNECT_ENDPOINT_MARKER_VALUE,
    ENDPOINT_MARKER,
)
from django_stripe_portal.events import CONNECT_ENDPOINT_EVENTS, HANDLED_EVENTS
from tests import contract
from tests.test_setup_stripe_webhook import SECRET, URL, FakeEndpoints, setup

pytestmark = contract.requires_openapi


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeEndpoints:
    return FakeEndpoints(stripe_mock)


def test_every_connect_event_is_one_of_stripes() -> None:
    assert set(CONNECT_ENDPOINT_EVENTS) <= set(contract.event_types())
    assert "account.application.deauthorized" in CONNECT_ENDPOINT_EVENTS


def test_creates_the_connect_endpoint_and_prints_its_secret_once(
    fake: FakeEndpoints, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    output, _ = setup("--url", URL, "--connect")

    ((_, url, body),) = fake.posts()
    params = contract.validate_request("POST", url, body)
    assert params["connect"] is True or params["connect"] == "true"
    assert sorted(params["enabled_events"]) == sorted(CONNECT_ENDPOINT_EVENTS)
    assert params["metadata"] == {ENDPOINT_MARKER: CONNECT_ENDPOINT_MARKER_VALUE}
    assert output.count(SECRET) == 1
    assert "CONNECT_WEBHOOK_SECRETS" in output
    assert SECRET not in caplog.text


def test_the_platform_endpoint_and_the_connect_endpoint_are_two(fake: FakeEndpoints) -> None:
    setup("--url", URL)

    setup("--url", URL, "--connect")
    setup("--url", URL, "--connect")  # found again: unchanged
    setup("--url", URL)

    creates = [body for _, url, body in fake.posts() if url.endswith("/webhook_endpoints")]
    assert len(creates) == 2 and len(fake.posts()) == 2
    assert "connect=true" in creates[1] and "connect" not in creates[0]


def test_a_connect_endpoint_is_updated_without_touching_connect(fake: FakeEndpoints) -> None:
    existing = fake.add(
        url="https://old.example.com/billing/webhook/",
        enabled_events=sorted(HANDLED_EVENTS),
        metadata={ENDPOINT_MARKER: CONNECT_ENDPOINT_MARKER_VALUE},
    )

    setup("--url", URL, "--connect")

    ((_, url, body),) = fake.posts()
    assert url.endswith(existing["id"])
    assert "connect" not in body  # not an update parameter: set once, on create
    assert "account.application.deauthorized" in existing["enabled_events"]
    assert existing["url"] == URL
