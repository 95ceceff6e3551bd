"""Entitlements kept from ``entitlements.active_entitlement_summary.updated``: never
backwards (Stripe's ``created``, same-second ties to the later delivery), per account and
mode, completed from the API only when the summary says ``has_more``, and the
``entitlements_changed`` signal with what was added and removed."""

from __future__ import annotations

import json
import time
from typing import Any

import django
import pytest
import responses
from django.test import Client, override_settings

from django_stripe_portal.access import entitlements, has_entitlement
from django_stripe_portal.customers import link_customer
from django_stripe_portal.models import ActiveEntitlements, WebhookEvent
from django_stripe_portal.signals import entitlements_changed
from django_stripe_portal.webhooks.entitlement_summaries import record_entitlement_summary
from django_stripe_portal.webhooks.payload import stripe_time
from tests import contract
from tests import stripe_objects as so
from tests.conftest import STRIPE_API
from tests.factories import UserFactory
from tests.webhook_support import SECRET, Recorder, connected, post_signed

pytestmark = pytest.mark.django_db
CUSTOMER = "cus_entitled0001"
MERCHANT = "acct_1MerchantE0001"
CONNECT_SECRET = "whsec_connectentitlements"
LIST_URL = f"{STRIPE_API}/v1/entitlements/active_entitlements"
SETTINGS: dict[str, Any] = {
    "API_KEY": "sk_test_tests",
    "WEBHOOK_SECRETS": [SECRET],
    "CONNECT_WEBHOOK_SECRETS": [CONNECT_SECRET],
    "MAX_NETWORK_RETRIES": 0,
}


@pytest.fixture(autouse=True)
def _settings() -> Any:
    with override_settings(STRIPE_PORTAL=SETTINGS):
        yield


@pytest.fixture
def changes() -> Any:
    recorder = Recorder()
    with connected(entitlements_changed, recorder):
        yield recorder


def deliver(client: Client, keys: list[str], *, created: int, **kwargs: Any) -> Any:
    event = so.entitlements_event(kwargs.pop("customer", CUSTOMER), keys, created=created)
    if "account" in kwargs:
        event["account"] = kwargs.pop("account")
        kwargs.setdefault("secret", CONNECT_SECRET)
    response = post_signed(client, event, **kwargs)
    assert response.status_code == 200, response.content
    return event


def test_stripes_own_example_summary_is_stored(client: Client, changes: Recorder) -> None:
    event = contract.fixtures()["constructed_third_build"][
        "event.entitlements.active_entitlement_summary.updated"
    ]
    assert post_signed(client, event).status_code == 200
    row = ActiveEntitlements.objects.get()
    assert (row.customer_id, row.account, row.livemode) == ("cus_QXg1o8vcGmoR32", "", False)
    assert row.lookup_keys == ["api-access", "pro-reports"]
    assert row.event_created_at == stripe_time(event["created"])
    assert WebhookEvent.objects.get().customer_id == "cus_QXg1o8vcGmoR32"
    (call,) = changes.calls
    assert call["added"] == {"pro-reports", "api-access"}
    assert call["removed"] == frozenset()
    assert call["customer_id"] == "cus_QXg1o8vcGmoR32"
    assert call["event"].stripe_id == event["id"]
    assert call["data"]["customer"] == "cus_QXg1o8vcGmoR32"


def test_a_newer_summary_replaces_the_keys_and_says_what_changed(
    client: Client, changes: Recorder
) -> None:
    now = int(time.time())
    deliver(client, ["pro-reports", "api-access"], created=now - 60)
    deliver(client, ["api-access", "exports"], created=now)

    assert ActiveEntitlements.objects.get().lookup_keys == ["api-access", "exports"]
    assert entitlements(customer_id=CUSTOMER) == {"api-access", "exports"}
    assert [(c["added"], c["removed"]) for c in changes.calls] == [
        ({"pro-reports", "api-access"}, frozenset()),
        ({"exports"}, {"pro-reports"}),
    ]


def test_an_older_summary_arriving_late_changes_nothing(client: Client, changes: Recorder) -> None:
    now = int(time.time())
    deliver(client, ["pro-reports"], created=now)
    deliver(client, [], created=now - 30)  # the earlier state, delivered second

    row = ActiveEntitlements.objects.get()
    assert row.lookup_keys == ["pro-reports"]
    assert row.event_created_at == stripe_time(now)
    assert has_entitlement("pro-reports", customer_id=CUSTOMER)
    assert len(changes.calls) == 1  # the late one announces nothing
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_same_second_summaries_go_to_the_later_delivery(client: Client, changes: Recorder) -> None:
    now = int(time.time())
    deliver(client, ["pro-reports"], created=now)
    deliver(client, ["pro-reports", "exports"], created=now)

    assert ActiveEntitlements.objects.get().lookup_keys == ["exports", "pro-reports"]
    assert [c["added"] for c in changes.calls] == [{"pro-reports"}, {"exports"}]


def test_a_summary_that_changes_nothing_sends_no_signal(client: Client, changes: Recorder) -> None:
    now = int(time.time())
    deliver(client, ["pro-reports"], created=now - 5)
    deliver(client, ["pro-reports"], created=now)
    assert len(changes.calls) == 1
    assert ActiveEntitlements.objects.get().event_created_at == stripe_time(now)


def test_a_redelivered_summary_is_dispatched_once(client: Client, changes: Recorder) -> None:
    event = so.entitlements_event(CUSTOMER, ["pro-reports"])
    assert post_signed(client, event).status_code == 200
    assert post_signed(client, event).status_code == 200
    assert len(changes.calls) == 1


def test_a_summary_for_an_unlinked_customer_is_kept_and_found_once_linked(
    client: Client,
) -> None:
    deliver(client, ["pro-reports"], created=int(time.time()))
    user = UserFactory()
    assert entitlements(user=user) == frozenset()
    assert not has_entitlement("pro-reports", user=user)

    link_customer(user, CUSTOMER)

    assert entitlements(user=user) == {"pro-reports"}
    assert has_entitlement("pro-reports", user=user)
    assert not has_entitlement("Pro-Reports", user=user)  # compared exactly


def test_connect_summaries_are_kept_per_account(client: Client) -> None:
    now = int(time.time())
    deliver(client, ["merchant-feature"], created=now, account=MERCHANT)
    deliver(client, ["platform-feature"], created=now)

    rows = dict(ActiveEntitlements.objects.values_list("account", "lookup_keys"))
    assert rows == {MERCHANT: ["merchant-feature"], "": ["platform-feature"]}
    assert entitlements(customer_id=CUSTOMER) == {"platform-feature"}
    assert entitlements(customer_id=CUSTOMER, account=MERCHANT) == {"merchant-feature"}
    user = UserFactory()
    link_customer(user, CUSTOMER, MERCHANT)
    # Linked on the merchant's account only: the platform's features are not the user's.
    assert entitlements(user=user) == frozenset()
    assert entitlements(user=user, account=MERCHANT) == {"merchant-feature"}


def test_a_deauthorized_account_grants_no_feature(client: Client) -> None:
    deliver(client, ["merchant-feature"], created=int(time.time()), account=MERCHANT)
    application = {"id": "ca_platformapp01", "object": "application", "name": "The platform"}
    deauthorized = so.event("account.application.deauthorized", application)
    deauthorized["account"] = MERCHANT
    assert post_signed(client, deauthorized, secret=CONNECT_SECRET).status_code == 200
    assert entitlements(customer_id=CUSTOMER, account=MERCHANT) == frozenset()


def test_modes_are_kept_apart() -> None:
    """A live summary (say, written by a shared database's live site) is no test-mode
    feature."""
    live = so.entitlement_summary(CUSTOMER, ["live-only"], livemode=True)
    record_entitlement_summary(live, account="", event_created_at=stripe_time(time.time()))
    assert entitlements(customer_id=CUSTOMER) == frozenset()
    with override_settings(STRIPE_PORTAL={**SETTINGS, "API_KEY": "sk_live_tests"}):
        assert entitlements(customer_id=CUSTOMER) == {"live-only"}


def _list_answers(stripe_mock: responses.RequestsMock, pages: list[dict[str, Any]]) -> None:
    for page in pages:
        stripe_mock.add(responses.GET, LIST_URL, json=page)


def test_a_summary_that_says_has_more_is_completed_from_the_api(
    client: Client, stripe_mock: responses.RequestsMock, changes: Recorder
) -> None:
    keys = [f"feature-{n:03d}" for n in range(150)]
    _list_answers(
        stripe_mock,
        [
            so.active_entitlements_page(keys[:100], has_more=True),
            so.active_entitlements_page(keys[100:]),
        ],
    )
    event = so.entitlements_event(CUSTOMER, keys[:10], has_more=True)
    event["account"] = MERCHANT

    assert post_signed(client, event, secret=CONNECT_SECRET).status_code == 200

    row = ActiveEntitlements.objects.get()
    assert row.lookup_keys == keys
    assert changes.calls[0]["added"] == set(keys)
    calls = [call for call in stripe_mock.calls if call.request.url.startswith(LIST_URL)]
    assert len(calls) == 2
    for call in calls:
        params = contract.validate_request("GET", call.request.url, None)
        assert params["customer"] == CUSTOMER
        assert call.request.headers["Stripe-Account"] == MERCHANT
    second = contract.validate_request("GET", calls[1].request.url, None)
    assert second["starting_after"] == json.loads(calls[0].response.text)["data"][-1]["id"]


def test_a_complete_summary_costs_no_api_call(
    client: Client, stripe_mock: responses.RequestsMock
) -> None:
    deliver(client, ["pro-reports"], created=int(time.time()))
    assert not stripe_mock.calls


def test_when_completing_fails_the_event_fails_and_nothing_is_written(
    client: Client, stripe_mock: responses.RequestsMock, changes: Recorder
) -> None:
    stripe_mock.add(
        responses.GET,
        LIST_URL,
        status=500,
        json={"error": {"type": "api_error", "message": "Something went wrong"}},
    )
    event = so.entitlements_event(CUSTOMER, ["pro-reports"], has_more=True)

    response = post_signed(client, event)

    assert response.status_code == 500  # Stripe delivers it again
    assert not ActiveEntitlements.objects.exists()
    assert not changes.calls
    row = WebhookEvent.objects.get()
    assert row.status == "failed"
    assert "Something went wrong" in row.last_error

    # The redelivery, once Stripe answers again, completes it.
    stripe_mock.replace(responses.GET, LIST_URL, json=so.active_entitlements_page(["a", "b"]))
    assert post_signed(client, event).status_code == 200
    assert ActiveEntitlements.objects.get().lookup_keys == ["a", "b"]
    assert len(changes.calls) == 1


@pytest.mark.off_contract
@pytest.mark.parametrize(
    "entitlements_list",
    [
        None,
        "pro-reports",
        {"object": "list", "data": [{"lookup_key": 7}], "has_more": False},
        {"object": "list", "data": [{"lookup_key": "x" * 81}], "has_more": False},
        {"object": "list", "data": ["pro-reports"], "has_more": False},
    ],
)
def test_a_summary_that_is_not_stripes_is_refused(client: Client, entitlements_list: Any) -> None:
    event = so.entitlements_event(CUSTOMER, [])
    event["data"]["object"]["entitlements"] = entitlements_list
    assert post_signed(client, event).status_code == 400
    assert not WebhookEvent.objects.exists()
    assert not ActiveEntitlements.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_task_mode_completes_a_has_more_summary_in_the_task_and_retries_a_failed_call(
    client: Client, stripe_mock: responses.RequestsMock, changes: Recorder
) -> None:
    """In task mode nothing is asked of Stripe in the request: the task lists the rest, and
    a call that fails leaves the event failed with its next attempt scheduled."""
    from django_stripe_portal.tasks import process_webhook_event

    task_mode = {**SETTINGS, "WEBHOOK_PROCESSING": "task"}
    dummy = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    if django.VERSION >= (6, 0):
        dummy = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    event = so.entitlements_event(CUSTOMER, ["pro-reports"], has_more=True)
    stripe_mock.add(
        responses.GET,
        LIST_URL,
        status=503,
        json={"error": {"type": "api_error", "message": "Try again"}},
    )
    with override_settings(STRIPE_PORTAL=task_mode, TASKS=dummy):
        assert post_signed(client, event).content == b"enqueued"
        assert not stripe_mock.calls
        assert process_webhook_event.call(event["id"]) == "failed"
        row = WebhookEvent.objects.get()
        assert row.status == "failed" and row.next_attempt_at is not None
        assert not ActiveEntitlements.objects.exists()

        stripe_mock.replace(
            responses.GET, LIST_URL, json=so.active_entitlements_page(["pro-reports", "more"])
        )
        WebhookEvent.objects.update(next_attempt_at=row.received_at)  # the retry is due
        assert process_webhook_event.call(event["id"]) == "processed"
    assert ActiveEntitlements.objects.get().lookup_keys == ["more", "pro-reports"]
    assert [c["added"] for c in changes.calls] == [{"more", "pro-reports"}]
