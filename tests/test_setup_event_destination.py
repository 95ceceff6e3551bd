"""setup_stripe_webhook --destination: one event destination for this app, thin payloads,
created once (its secret printed once), then updated only where it differs."""

from __future__ import annotations

import json
import logging
import re
from io import StringIO
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from django_stripe_portal.destination_setup import default_thin_events
from django_stripe_portal.events import HANDLED_EVENTS, THIN_SUBSCRIPTION_ASPECTS
from django_stripe_portal.webhooks.thin_events import snapshot_twin
from tests import contract
from tests.thin_support import rfc3339

API = "https://api.stripe.com/v2/core/event_destinations"
URL = "https://shop.example.com/billing/events/"
SECRET = "whsec_destinationOnce123"


class FakeDestinations:
    """Stripe's event destinations: list, create (the secret once), update. Every request
    is checked against the spec: query strings as v1's, JSON bodies with JSON types."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.destinations: list[dict[str, Any]] = []
        self.posts: list[tuple[str, dict[str, Any]]] = []
        mock.add_callback(responses.GET, re.compile(re.escape(API) + r"(\?.*)?$"), self._list)
        mock.add_callback(responses.POST, re.compile(re.escape(API) + r"$"), self._create)
        mock.add_callback(responses.POST, re.compile(re.escape(API) + r"/ed_\w+$"), self._update)

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = contract.validator().decode_form(urlsplit(request.url).query)
        contract.validator().validate_request("GET", "/v2/core/event_destinations", query)
        shown = [
            {**item, "webhook_endpoint": {**item["webhook_endpoint"], "signing_secret": None}}
            for item in self.destinations
        ]
        if "webhook_endpoint.url" not in dict(parse_qsl(urlsplit(request.url).query)).values():
            shown = [{**item, "webhook_endpoint": {"url": None}} for item in shown]
        page = {"data": shown, "next_page_url": None, "previous_page_url": None}
        return 200, {}, json.dumps(page)

    def _body(self, request: Any, path: str) -> dict[str, Any]:
        assert request.headers["Content-Type"].startswith("application/json")
        params = json.loads(request.body)
        contract.validator().validate_request("POST", path, params)
        self.posts.append((path, params))
        return params  # type: ignore[no-any-return]

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = self._body(request, "/v2/core/event_destinations")
        assert request.headers.get("Idempotency-Key")
        now = rfc3339(1_800_000_000)
        destination = {
            "id": f"ed_test_{len(self.destinations) + 1}",
            "object": "v2.core.event_destination",
            "created": now,
            "updated": now,
            "livemode": False,
            "status": "enabled",
            "description": params.get("description", ""),
            "name": params["name"],
            "type": params["type"],
            "event_payload": params["event_payload"],
            "enabled_events": params["enabled_events"],
            "events_from": params.get("events_from"),
            "metadata": params.get("metadata"),
            "webhook_endpoint": {
                "url": params["webhook_endpoint"]["url"],
                "signing_secret": SECRET,
            },
        }
        contract.validate_object("v2.core.event_destination", destination, strict=True)
        self.destinations.insert(0, destination)
        return 200, {}, json.dumps(destination)

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        destination_id = request.url.rsplit("/", 1)[1]
        params = self._body(request, f"/v2/core/event_destinations/{destination_id}")
        destination = next(item for item in self.destinations if item["id"] == destination_id)
        if "enabled_events" in params:
            destination["enabled_events"] = params["enabled_events"]
        if "webhook_endpoint" in params:
            destination["webhook_endpoint"]["url"] = params["webhook_endpoint"]["url"]
        return 200, {}, json.dumps({**destination, "webhook_endpoint": {"url": None}})


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeDestinations:
    return FakeDestinations(stripe_mock)


def setup(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("setup_stripe_webhook", "--destination", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@contract.requires_openapi
def test_the_default_events_are_the_sdks_and_the_specs_thin_twins_of_the_handled_ones() -> None:
    thin_types = json.loads((contract.OPENAPI_DIR / "events.json").read_text())["thin_event_types"]
    assert set(default_thin_events()) <= set(thin_types)
    assert {snapshot_twin(name) for name in default_thin_events()} == set(HANDLED_EVENTS)
    # The granular subscription types are Stripe's, and none has a snapshot twin of its own.
    assert set(THIN_SUBSCRIPTION_ASPECTS) <= set(thin_types)
    granular = {name for name in thin_types if name.startswith("v1.customer.subscription.")}
    with_twin = {name for name in granular if name[3:] in contract.event_types()}
    assert granular - with_twin == set(THIN_SUBSCRIPTION_ASPECTS)


@contract.requires_openapi
def test_creates_the_destination_and_prints_the_secret_once(
    fake: FakeDestinations, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    output, _ = setup("--url", URL)

    ((path, params),) = fake.posts
    assert path == "/v2/core/event_destinations"
    assert params["event_payload"] == "thin" and params["type"] == "webhook_endpoint"
    assert params["enabled_events"] == default_thin_events()
    assert params["webhook_endpoint"] == {"url": URL}
    assert "webhook_endpoint.signing_secret" in params["include"]
    assert output.count(SECRET) == 1
    assert "EVENT_DESTINATION_SECRETS" in output
    assert SECRET not in caplog.text


@contract.requires_openapi
def test_a_second_run_writes_nothing_and_prints_no_secret(fake: FakeDestinations) -> None:
    setup("--url", URL)

    output, _ = setup("--url", URL)

    assert len(fake.posts) == 1
    assert "unchanged" in output and SECRET not in output


@contract.requires_openapi
def test_a_new_url_or_events_update_only_what_differs(fake: FakeDestinations) -> None:
    setup("--url", URL)
    new_url = "https://shop.example.com/stripe/events/"

    output, _ = setup("--url", new_url, "--events", "v1.customer.subscription.updated")

    (_, update) = fake.posts[1]
    assert update["webhook_endpoint"] == {"url": new_url}
    assert update["enabled_events"] == ["v1.customer.subscription.updated"]
    assert SECRET not in output
    assert setup("--url", new_url, "--events", "v1.customer.subscription.updated")[0].count(
        "unchanged"
    )


@contract.requires_openapi
def test_connect_destination_takes_the_accounts_events_and_a_scope_mismatch_is_reported(
    fake: FakeDestinations,
) -> None:
    setup("--url", URL, "--connect")
    assert fake.posts[0][1]["events_from"] == ["@self", "@accounts"]

    _, warnings = setup("--url", URL)

    assert "events_from" in warnings and len(fake.posts) == 1


def test_snapshot_names_are_refused_with_the_thin_spelling(fake: FakeDestinations) -> None:
    with pytest.raises(CommandError, match=r"v1\. prefix"):
        setup("--url", URL, "--events", "customer.subscription.updated")
    assert fake.posts == []
