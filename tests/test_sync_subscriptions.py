"""sync_subscriptions: backfill from GET /v1/subscriptions without moving rows backwards."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_stripe_portal.models import StripeSubscription
from django_stripe_portal.state.subscriptions import SubscriptionWrite, record_subscription
from django_stripe_portal.webhooks.payload import subscription_values
from tests import contract, stripe_objects
from tests.factories import StripeSubscriptionFactory

pytestmark = pytest.mark.django_db

API = "https://api.stripe.com/v1/subscriptions"


def _record(obj: dict[str, Any], when: datetime) -> SubscriptionWrite:
    """Record a subscription payload the way a webhook does."""
    return record_subscription(obj["id"], subscription_values(obj), when)


class FakeSubscriptions:
    """Stripe's subscription list: newest first, paginated, filtered by customer."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.subscriptions: list[dict[str, Any]] = []
        self.queries: list[dict[str, str]] = []
        self.urls: list[str] = []
        #: Runs while a page is being served (a webhook processed meanwhile).
        self.while_serving: Callable[[], None] | None = None
        self.fail_with: tuple[int, dict[str, Any]] | None = None
        mock.add_callback(responses.GET, re.compile(re.escape(API) + r"(\?.*)?$"), self._list)

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.urls.append(request.url)
        query = dict(parse_qsl(urlsplit(request.url).query))
        self.queries.append(query)
        if self.fail_with is not None:
            status, body = self.fail_with
            return status, {"Request-Id": "req_listfailed"}, json.dumps(body)
        if self.while_serving is not None:
            self.while_serving()
        items = [
            sub
            for sub in self.subscriptions
            if query.get("customer") in (None, sub["customer"])
            and (query.get("status") == "all" or sub["status"] not in ("canceled",))
        ]
        if "starting_after" in query:
            ids = [sub["id"] for sub in items]
            items = items[ids.index(query["starting_after"]) + 1 :]
        limit = int(query.get("limit", 10))
        page = {"object": "list", "url": "/v1/subscriptions", "data": items[:limit]}
        return 200, {}, json.dumps({**page, "has_more": len(items) > limit})


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeSubscriptions:
    return FakeSubscriptions(stripe_mock)


def backfill(*args: str) -> str:
    out = StringIO()
    call_command("sync_subscriptions", *args, stdout=out)
    return out.getvalue()


def test_every_page_of_every_status_is_recorded(fake: FakeSubscriptions) -> None:
    fake.subscriptions = [
        stripe_objects.subscription(
            customer=f"cus_{n % 7}", status="canceled" if n % 5 == 0 else "active"
        )
        for n in range(230)
    ]

    output = backfill()

    assert [query.get("starting_after") for query in fake.queries] == [
        None,
        fake.subscriptions[99]["id"],
        fake.subscriptions[199]["id"],
    ]
    assert all(query["status"] == "all" and query["limit"] == "100" for query in fake.queries)
    assert StripeSubscription.objects.count() == 230
    assert StripeSubscription.objects.filter(status="canceled").count() == 46
    assert "230 subscription(s): 230 new" in output


def test_the_summary_costs_one_query_per_page(fake: FakeSubscriptions) -> None:
    fake.subscriptions = [stripe_objects.subscription(customer="cus_a") for _ in range(230)]
    backfill("--customer", "cus_a")
    fake.subscriptions.append(stripe_objects.subscription(customer="cus_a"))

    with CaptureQueriesContext(connection) as queries:
        output = backfill("--customer", "cus_a")

    assert "231 subscription(s): 1 new, 230 updated, 0 kept" in output
    # One upsert per subscription, one lookup of known ids per page of 100.
    assert len(queries) == 231 + 3


@contract.requires_openapi
def test_list_requests_match_stripes_spec(fake: FakeSubscriptions) -> None:
    fake.subscriptions = [stripe_objects.subscription(customer="cus_a") for _ in range(3)]
    backfill("--customer", "cus_a")
    for url in fake.urls:
        contract.validate_request("GET", url, None)
    assert fake.queries == [{"status": "all", "limit": "100", "customer": "cus_a"}]


def test_customer_limits_the_backfill(fake: FakeSubscriptions) -> None:
    fake.subscriptions = [
        stripe_objects.subscription(customer="cus_a"),
        stripe_objects.subscription(customer="cus_b"),
    ]

    output = backfill("--customer", "cus_b")

    assert "1 subscription(s): 1 new, 0 updated, 0 kept" in output
    assert list(StripeSubscription.objects.values_list("customer_id", flat=True)) == ["cus_b"]


def test_rows_are_stamped_with_the_time_the_page_was_asked_for(fake: FakeSubscriptions) -> None:
    fake.subscriptions = [stripe_objects.subscription()]
    before = datetime.fromtimestamp(int(time.time()), tz=UTC)

    backfill()

    row = StripeSubscription.objects.get()
    assert before <= row.event_created_at <= datetime.now(tz=UTC)
    assert row.event_created_at.microsecond == 0


def test_a_webhook_processed_during_the_listing_is_not_overwritten(
    fake: FakeSubscriptions,
) -> None:
    listed = stripe_objects.subscription(cancel_at_period_end=False)
    fake.subscriptions = [listed]
    newer = {**listed, "cancel_at_period_end": True}

    def webhook_arrives() -> None:
        # customer.subscription.updated, created after the list request was sent.
        _record(newer, datetime.now(tz=UTC) + timedelta(seconds=1))

    fake.while_serving = webhook_arrives

    output = backfill()

    row = StripeSubscription.objects.get(stripe_id=listed["id"])
    assert row.cancel_at_period_end is True
    assert "1 kept" in output


def test_an_older_row_is_brought_up_to_date(fake: FakeSubscriptions) -> None:
    listed = stripe_objects.subscription(items=[("price_pro", 3)])
    fake.subscriptions = [listed]
    StripeSubscriptionFactory(
        stripe_id=listed["id"],
        customer_id=listed["customer"],
        status="trialing",
        event_created_at=datetime.now(tz=UTC) - timedelta(days=2),
    )

    output = backfill()

    assert "1 subscription(s): 0 new, 1 updated, 0 kept" in output
    row = StripeSubscription.objects.get(stripe_id=listed["id"])
    assert row.status == "active"
    assert [(item["price"], item["quantity"]) for item in row.items] == [("price_pro", 3)]


def test_an_ended_subscription_is_never_revived(fake: FakeSubscriptions) -> None:
    listed = stripe_objects.subscription(status="active")
    fake.subscriptions = [listed]
    StripeSubscriptionFactory(
        stripe_id=listed["id"],
        status="canceled",
        event_created_at=datetime.now(tz=UTC) - timedelta(days=2),
    )

    backfill()

    assert StripeSubscription.objects.get(stripe_id=listed["id"]).status == "canceled"


def test_a_stripe_error_is_reported_with_its_request_id(fake: FakeSubscriptions) -> None:
    fake.fail_with = (401, {"error": {"type": "invalid_request_error", "message": "Bad key"}})

    with pytest.raises(CommandError, match="req_listfailed"):
        backfill()


def test_a_malformed_customer_id_is_refused(fake: FakeSubscriptions) -> None:
    with pytest.raises(CommandError, match="starts with cus_"):
        backfill("--customer", "42")
    assert fake.queries == []
