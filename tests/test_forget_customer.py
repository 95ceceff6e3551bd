"""``forget_stripe_customer``: one customer's personal values leave the stored payloads and
rows; other customers, ids, reasons and every figure stay."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from django_stripe_portal import activity
from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.storage.forget import redacted
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory, WebhookEventFactory
from tests.webhook_support import post_signed

pytestmark = pytest.mark.django_db

TODAY = activity.ActivityRange.last_days(2)
PERSONAL = ("Ann Example", "ann@example.com", "+4930123456", "Hauptstr. 1", "Call me at home")


def _person(customer: str) -> dict[str, Any]:
    return so.customer(
        id=customer,
        name="Ann Example",
        email="ann@example.com",
        phone="+4930123456",
        address={
            "city": "Berlin",
            "country": "DE",
            "line1": "Hauptstr. 1",
            "line2": None,
            "postal_code": "10115",
            "state": None,
        },
    )


def _cancel(customer: str) -> dict[str, Any]:
    subscription = so.subscription(
        customer=customer,
        cancel_at_period_end=True,
        canceled_at=int(time.time()),
        cancellation_details={
            "reason": "cancellation_requested",
            "feedback": "too_expensive",
            "comment": "Call me at home",
        },
    )
    return so.event(
        "customer.subscription.updated",
        subscription,
        previous_attributes={"cancel_at_period_end": False},
    )


def _store(client: Client, customer: str) -> None:
    created = timezone.now() - dt.timedelta(minutes=3)
    PortalSessionFactory(customer_id=customer, created_at=created, return_to="/account/ann/")
    for event in (
        so.event("customer.updated", _person(customer)),
        so.event("payment_method.attached", so.payment_method(customer=customer)),
        _cancel(customer),
    ):
        assert post_signed(client, event).status_code == 200
    # Found by the payload alone (a row stored before the customer column was filled).
    WebhookEventFactory(
        customer_id="",
        type="customer.updated",
        payload=so.event("customer.updated", _person(customer)),
    )


def _stored_text(customer: str) -> str:
    rows = WebhookEvent.objects.filter(payload__data__object__customer=customer) | (
        WebhookEvent.objects.filter(customer_id=customer)
        | WebhookEvent.objects.filter(payload__data__object__id=customer)
    )
    subscriptions = StripeSubscription.objects.filter(customer_id=customer)
    return json.dumps(
        [
            [row.payload for row in rows],
            [s.cancellation_details for s in subscriptions],
            list(PortalSession.objects.filter(customer_id=customer).values_list("return_to")),
        ]
    )


def _figures() -> Any:
    return (
        activity.activity_report(TODAY).as_dict(),
        [customer.as_dict() for customer in activity.customers_at_risk()],
    )


def test_the_customer_is_forgotten_and_nobody_else_and_no_figure_changes(client: Client) -> None:
    _store(client, "cus_forget1")
    _store(client, "cus_keep1")
    assert all(value in _stored_text("cus_forget1") for value in PERSONAL)
    kept_before = _stored_text("cus_keep1")
    figures = _figures()
    assert figures[0]["cancellation_reasons"]

    out = io.StringIO()
    call_command("forget_stripe_customer", "cus_forget1", stdout=out)

    forgotten = _stored_text("cus_forget1")
    assert not [value for value in PERSONAL if value in forgotten]
    assert "jenny.rosen@example.com" not in forgotten  # the card's billing details
    assert _stored_text("cus_keep1") == kept_before
    assert _figures() == figures
    subscription = StripeSubscription.objects.get(customer_id="cus_forget1")
    assert subscription.cancellation_details["feedback"] == "too_expensive"
    assert subscription.cancellation_details["comment"] is None
    assert "4 stored event(s)" in out.getvalue() and "Stripe keeps its own copy" in out.getvalue()
    assert "1 visit return address(es) and 1 cancellation comment(s) were removed" in out.getvalue()
    # Ids, types and the state the events wrote stay readable.
    assert WebhookEvent.objects.filter(customer_id="cus_forget1").count() == 3


def test_dry_run_changes_nothing_and_account_limits_the_rows(client: Client) -> None:
    _store(client, "cus_forget2")
    before = _stored_text("cus_forget2")
    out = io.StringIO()
    call_command("forget_stripe_customer", "cus_forget2", "--dry-run", stdout=out)
    assert _stored_text("cus_forget2") == before
    assert "would be removed" in out.getvalue() and "4 stored event(s)" in out.getvalue()

    call_command("forget_stripe_customer", "cus_forget2", "--account", "acct_other", stdout=out)
    assert _stored_text("cus_forget2") == before  # every row is the platform's


@pytest.mark.parametrize("arguments", [["sub_123"], [""], ["cus_1", "--account", "cus_2"]])
def test_bad_ids_are_refused_clearly(arguments: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("forget_stripe_customer", *arguments)


def test_redaction_clears_personal_values_anywhere_and_keeps_the_rest() -> None:
    value = {
        "object": "invoice",
        "customer_email": "a@b.c",
        "lines": {"data": [{"amount": 900, "description": "Ann's seat"}]},
        "tax": {"object": "tax_id", "value": "DE123456789", "type": "eu_vat"},
        "amount_due": 900,
        "email": None,
    }
    out, count = redacted(value)
    assert count == 3
    assert out["customer_email"] is None and out["tax"]["value"] is None
    assert out["lines"]["data"][0] == {"amount": 900, "description": None}
    assert (out["amount_due"], out["tax"]["type"], value["customer_email"]) == (
        900,
        "eu_vat",
        "a@b.c",
    )
