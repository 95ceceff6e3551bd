"""setup_stripe_webhook: one endpoint for this app, the events it handles, the pinned version."""

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
from stripe.params import WebhookEndpointUpdateParams

from django_stripe_portal.conf import get_settings
from django_stripe_portal.configurations.schema import params_problems
from django_stripe_portal.endpoint_setup import (
    ENDPOINT_MARKER,
    ENDPOINT_MARKER_VALUE,
    known_event_types,
)
from django_stripe_portal.events import HANDLED_EVENTS
from tests import contract, stripe_objects

API = "https://api.stripe.com/v1/webhook_endpoints"
URL = "https://shop.example.com/billing/webhook/"
SECRET = "whsec_createdOnce123"


class FakeEndpoints:
    """Stripe's webhook endpoints: list (paginated), create, update."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.endpoints: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str]] = []
        #: Stripe's idempotency cache: the answer given to each Idempotency-Key.
        self.answers: dict[str, str] = {}
        mock.add_callback(responses.GET, re.compile(re.escape(API) + r"(\?.*)?$"), self._list)
        mock.add_callback(responses.POST, re.compile(re.escape(API) + r"$"), self._create)
        mock.add_callback(responses.POST, re.compile(re.escape(API) + r"/we_\w+$"), self._update)

    def add(self, **fields: Any) -> dict[str, Any]:
        endpoint = stripe_objects.resource(
            "webhook_endpoint", id=stripe_objects.unique_id("we"), **fields
        )
        self.endpoints.insert(0, endpoint)
        return endpoint

    def posts(self) -> list[tuple[str, str, str]]:
        return [request for request in self.requests if request[0] == "POST"]

    def _record(self, request: Any) -> str:
        body = request.body or ""
        body = body.decode() if isinstance(body, bytes) else body
        self.requests.append((request.method, request.url, body))
        return str(body)

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        self._record(request)
        query = dict(parse_qsl(urlsplit(request.url).query))
        items = self.endpoints
        if "starting_after" in query:
            ids = [item["id"] for item in items]
            items = items[ids.index(query["starting_after"]) + 1 :]
        limit = int(query.get("limit", 10))
        page = {"object": "list", "url": "/v1/webhook_endpoints", "data": items[:limit]}
        return 200, {}, json.dumps({**page, "has_more": len(items) > limit})

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        key = request.headers.get("Idempotency-Key")
        if key in self.answers:
            self._record(request)
            return 200, {"Idempotent-Replayed": "true"}, self.answers[key]
        params = contract.validate_request("POST", request.url, self._record(request))
        endpoint = self.add(
            url=params["url"],
            enabled_events=list(params["enabled_events"]),
            api_version=params.get("api_version"),
            description=params.get("description"),
            metadata=dict(params.get("metadata") or {}),
        )
        answer = json.dumps({**endpoint, "secret": SECRET})
        if key:
            self.answers[key] = answer
        return 200, {}, answer

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = self._record(request)
        endpoint_id = request.url.rsplit("/", 1)[1]
        endpoint = next(item for item in self.endpoints if item["id"] == endpoint_id)
        params = contract.validator().decode_form(body)
        if "enabled_events" in params:
            params["enabled_events"] = [
                params["enabled_events"][index]
                for index in sorted(params["enabled_events"], key=int)
            ]
        if "disabled" in params:
            endpoint["status"] = "disabled" if params.pop("disabled") == "true" else "enabled"
        endpoint.update(params)
        return 200, {}, json.dumps(endpoint)


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeEndpoints:
    return FakeEndpoints(stripe_mock)


def setup(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("setup_stripe_webhook", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _ours(**fields: Any) -> dict[str, Any]:
    return {
        "url": URL,
        "enabled_events": sorted(HANDLED_EVENTS),
        "api_version": get_settings().api_version,
        "metadata": {ENDPOINT_MARKER: ENDPOINT_MARKER_VALUE},
        **fields,
    }


@contract.requires_openapi
def test_every_handled_event_is_one_of_stripes() -> None:
    assert set(HANDLED_EVENTS) <= set(contract.event_types())


@contract.requires_openapi
def test_creates_the_endpoint_and_prints_the_secret_once(
    fake: FakeEndpoints, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    output, _ = setup("--url", URL)

    ((_, url, body),) = fake.posts()
    params = contract.validate_request("POST", url, body)
    assert sorted(params["enabled_events"]) == sorted(HANDLED_EVENTS)
    assert params["api_version"] == get_settings().api_version == stripe_objects.API_VERSION
    assert params["url"] == URL
    assert params["metadata"] == {ENDPOINT_MARKER: ENDPOINT_MARKER_VALUE}
    assert output.count(SECRET) == 1
    assert "WEBHOOK_SECRETS" in output
    assert SECRET not in caplog.text


@contract.requires_openapi
def test_a_second_run_finds_the_endpoint_and_changes_nothing(fake: FakeEndpoints) -> None:
    setup("--url", URL)

    output, _ = setup("--url", URL)

    assert len(fake.posts()) == 1
    assert "unchanged" in output and SECRET not in output


@contract.requires_openapi
def test_a_run_after_the_endpoint_was_deleted_creates_a_new_one(fake: FakeEndpoints) -> None:
    setup("--url", URL)
    (deleted,) = fake.endpoints
    fake.endpoints.clear()  # deleted in the Dashboard

    output, _ = setup("--url", URL)

    (created,) = fake.endpoints
    assert created["id"] != deleted["id"]
    assert created["id"] in output and deleted["id"] not in output


def test_an_endpoint_found_by_its_metadata_is_updated_without_api_version(
    fake: FakeEndpoints,
) -> None:
    for _ in range(120):  # endpoints of other apps, on earlier pages
        fake.add(url="https://other.example.com/hook")
    ours = fake.add(**_ours(url="https://old.example.com/billing/webhook/", created=1))
    fake.endpoints.append(fake.endpoints.pop(0))  # the oldest: listed last

    output, _ = setup("--url", URL)

    ((_, url, body),) = fake.posts()
    assert url == f"{API}/{ours['id']}"
    params = dict(parse_qsl(body))
    assert params == {"url": URL}
    assert params_problems(WebhookEndpointUpdateParams, params) == []
    assert f"url: 'https://old.example.com/billing/webhook/' → '{URL}'" in output
    assert "Signing secret" not in output
    assert [request[0] for request in fake.requests].count("GET") == 2


@pytest.mark.parametrize(
    ("api_version", "reported"),
    [("2024-06-20", "2024-06-20"), (None, "the account's default")],
)
def test_a_different_api_version_is_reported_not_sent(
    fake: FakeEndpoints, api_version: str | None, reported: str
) -> None:
    fake.add(**_ours(api_version=api_version))

    _, errors = setup("--url", URL)

    assert fake.posts() == []
    assert f"renders events in API version {reported}" in errors
    assert "cannot change" in errors


def test_the_pinned_version_raises_no_warning(fake: FakeEndpoints) -> None:
    fake.add(**_ours())
    _, errors = setup("--url", URL)
    assert errors == ""


def test_dry_run_shows_the_request_and_sends_nothing(fake: FakeEndpoints) -> None:
    output, _ = setup("--url", URL, "--dry-run")

    assert fake.posts() == []
    assert "POST /v1/webhook_endpoints" in output
    assert '"api_version": "2026-10-28.endive"' in output


@contract.requires_openapi
def test_events_can_be_narrowed(fake: FakeEndpoints) -> None:
    setup("--url", URL, "--events", "customer.subscription.updated,customer.subscription.deleted")

    ((_, url, body),) = fake.posts()
    params = contract.validate_request("POST", url, body)
    assert sorted(params["enabled_events"]) == [
        "customer.subscription.deleted",
        "customer.subscription.updated",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--url", URL, "--events", "customer.subscription.renamed"), "Not Stripe event types"),
        (("--url", "http://shop.example.com/billing/webhook/"), "public https:// URL"),
        (("--url", "billing/webhook/"), "public https:// URL"),
    ],
)
def test_bad_arguments_fail_before_any_call(
    fake: FakeEndpoints, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        setup(*args)
    assert fake.requests == []


@contract.requires_openapi
def test_event_names_are_checked_against_stripes_list() -> None:
    assert known_event_types() == {*contract.event_types(), "*"}
