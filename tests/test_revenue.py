"""The money of the churn loop end to end: portal visits, then the webhooks Stripe sends
for what customers did in them, then ``revenue_report`` and ``portal_activity --revenue``.

Every event goes through the webhook view (signed, schema-checked by the autouse
contract fixture); the report reads columns only (payloads are emptied before it runs)."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from django_stripe_portal.activity import customers_at_risk, revenue_report
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.factories import PortalSessionFactory, StripeCustomerFactory
from tests.webhook_support import post_signed

pytestmark = pytest.mark.django_db


def item(amount: int, quantity: int = 1, interval: str = "month", currency: str = "eur") -> Any:
    """A subscription item as Stripe sends it, its price carrying a real amount."""
    body = so.subscription_item(f"price_{amount}_{interval}", quantity)
    body["price"].update(
        currency=currency,
        unit_amount=amount,
        unit_amount_decimal=str(amount),
        billing_scheme="per_unit",
        transform_quantity=None,
        recurring={**body["price"]["recurring"], "interval": interval, "interval_count": 1},
    )
    body["plan"].update(
        amount=amount,
        amount_decimal=str(amount),
        currency=currency,
        interval=interval,
        interval_count=1,
        billing_scheme="per_unit",
        transform_usage=None,
    )
    return body


def subscription(sub_id: str, customer: str, *items: Any, **fields: Any) -> dict[str, Any]:
    sub = so.subscription(
        id=sub_id, customer=customer, pause_collection=None, currency="eur", discounts=[]
    )
    sub["items"]["data"] = [copy.deepcopy(i) for i in items]
    sub.update(fields)
    return sub


def post(client: Client, event_type: str, obj: dict[str, Any], **options: Any) -> None:
    event = so.event(event_type, obj, **options)
    assert post_signed(client, event).status_code == 200


def visit(customer: str, **fields: Any) -> Any:
    return PortalSessionFactory(
        customer_id=customer, created_at=timezone.now() - dt.timedelta(minutes=5), **fields
    )


def entry(currency: str = "eur") -> Any:
    today = timezone.localdate()
    report = revenue_report(today - dt.timedelta(days=29), today)
    return {e.currency: e for e in report.currencies}[currency]


def test_the_upsert_keeps_the_run_rate_from_the_payload(client: Client) -> None:
    post(
        client,
        "customer.subscription.created",
        subscription("sub_y", "cus_y", item(29000, 1, "year")),
    )
    row = StripeSubscription.objects.get()
    assert (row.currency, row.monthly_amount) == ("eur", 2417)
    event = WebhookEvent.objects.get()
    assert (event.currency, event.run_rate_before, event.run_rate_after) == ("eur", 0, 2417)


def test_movements_of_visits_followed_by_webhooks(client: Client) -> None:
    # Stored before the window's changes: three subscriptions of three customers.
    for sub_id, customer, items in [
        ("sub_up", "cus_up", [item(2900)]),
        ("sub_down", "cus_down", [item(1000, 3)]),
        ("sub_gone", "cus_gone", [item(4900)]),
        ("sub_dash", "cus_dash", [item(7900)]),
        ("sub_year", "cus_year", [item(120000, 1, "year")]),
    ]:
        post(client, "customer.subscription.created", subscription(sub_id, customer, *items))
    visit("cus_up")
    visit("cus_down")
    visit("cus_gone", flow_type="subscription_cancel")

    # An upgrade, a downgrade and a scheduled cancellation in the visits ...
    post(
        client,
        "customer.subscription.updated",
        subscription("sub_up", "cus_up", item(9900)),
        previous_attributes={"items": {"object": "list", "data": [item(2900)]}},
    )
    post(
        client,
        "customer.subscription.updated",
        subscription("sub_down", "cus_down", item(1000, 1)),
        previous_attributes={"items": {"object": "list", "data": [item(1000, 3)]}},
    )
    post(
        client,
        "customer.subscription.updated",
        subscription(
            "sub_gone",
            "cus_gone",
            item(4900),
            cancel_at_period_end=True,
            cancellation_details={
                "comment": None,
                "feedback": "too_expensive",
                "reason": "cancellation_requested",
            },
        ),
        previous_attributes={"cancel_at_period_end": False},
    )
    # ... and one made in the Dashboard, outside any visit: not the portal's.
    post(
        client,
        "customer.subscription.deleted",
        subscription("sub_dash", "cus_dash", item(7900), status="canceled"),
    )
    WebhookEvent.objects.update(payload={})  # pruned: figures come from columns only

    eur = entry()
    assert eur.expansion == 7000
    assert eur.contraction == 2000
    assert eur.canceled == 4900
    assert [(r.reason, r.cancellations, r.monthly_amount) for r in eur.canceled_by_reason] == [
        ("too_expensive", 1, 4900)
    ]
    assert (eur.all_canceled, eur.portal_canceled) == (4900 + 7900, 4900)
    assert eur.portal_share == pytest.approx(4900 / 12800)
    assert eur.mrr == 9900 + 1000 + 4900 + 10000
    # The scheduled cancellation is at risk until it ends.
    assert eur.at_risk == 4900


def test_mrr_at_an_earlier_end_takes_back_the_later_changes(client: Client) -> None:
    post(client, "customer.subscription.created", subscription("sub_old", "cus_old", item(5000)))
    earlier = timezone.localdate() - dt.timedelta(days=2)
    WebhookEvent.objects.update(created_at=timezone.now() - dt.timedelta(days=5))
    post(
        client,
        "customer.subscription.updated",
        subscription("sub_old", "cus_old", item(8000)),
        previous_attributes={"items": {"object": "list", "data": [item(5000)]}},
    )
    report = revenue_report(earlier - dt.timedelta(days=6), earlier)
    assert [(e.currency, e.mrr) for e in report.currencies] == [("eur", 5000)]
    assert entry().mrr == 8000


def test_an_accepted_retention_offer_is_saved_run_rate_and_its_coupon_a_cost(
    client: Client,
) -> None:
    post(client, "customer.subscription.created", subscription("sub_kept", "cus_kept", item(4000)))
    visit("cus_kept", flow_type="subscription_cancel", retention_coupon="WINBACK25")
    discount = so.discount(customer="cus_kept", subscription="sub_kept", coupon=None)
    discount["source"]["coupon"] = coupon(percent_off=25, duration="repeating", months=3)
    discount["end"] = int((timezone.now() + dt.timedelta(days=90)).timestamp())
    post(client, "customer.discount.created", discount)

    row = StripeSubscription.objects.get()
    assert row.monthly_amount == 3000
    eur = entry()
    assert (eur.saved, eur.discount_cost) == (3000, 1000 * 3)
    # The subscription update that follows names the discount by id: its terms are known.
    post(
        client,
        "customer.subscription.updated",
        subscription("sub_kept", "cus_kept", item(4000), discounts=[discount["id"]]),
        previous_attributes={"discounts": []},
    )
    assert StripeSubscription.objects.get().monthly_amount == 3000


def coupon(**terms: Any) -> dict[str, Any]:
    months = terms.pop("months", None)
    return {
        "id": "WINBACK25",
        "object": "coupon",
        "amount_off": None,
        "applies_to": None,
        "created": 1_700_000_000,
        "currency": None,
        "currency_options": None,
        "duration": "forever",
        "duration_in_months": months,
        "livemode": False,
        "max_redemptions": None,
        "metadata": {},
        "name": "Stay with us",
        "percent_off": None,
        "redeem_by": None,
        "times_redeemed": 1,
        "valid": True,
        **terms,
    }


def test_a_discount_named_by_id_only_leaves_the_run_rate_unknown_until_told(
    client: Client,
) -> None:
    post(
        client,
        "customer.subscription.created",
        subscription("sub_di", "cus_di", item(4000), discounts=["di_later"]),
    )
    assert StripeSubscription.objects.get().monthly_amount is None
    discount = so.discount(customer="cus_di", subscription="sub_di", id="di_later", coupon=None)
    discount["source"]["coupon"] = coupon(amount_off=500, currency="eur")
    post(client, "customer.discount.created", discount)
    assert StripeSubscription.objects.get().monthly_amount == 3500
    post(client, "customer.discount.deleted", discount)
    assert StripeSubscription.objects.get().monthly_amount == 4000


def test_the_customers_own_discount_reprices_their_subscriptions(client: Client) -> None:
    post(client, "customer.subscription.created", subscription("sub_c1", "cus_c", item(2000)))
    discount = so.discount(customer="cus_c", subscription=None, coupon=None)
    discount["source"]["coupon"] = coupon(percent_off=50)
    post(client, "customer.discount.created", discount)
    assert StripeSubscription.objects.get().monthly_amount == 1000
    # Later events of the customer keep it (the subscription write reads it in the same
    # statement), and so does a subscription created after it.
    post(
        client,
        "customer.subscription.updated",
        subscription("sub_c1", "cus_c", item(3000)),
        previous_attributes={"items": {"object": "list", "data": [item(2000)]}},
    )
    post(client, "customer.subscription.created", subscription("sub_c2", "cus_c", item(800)))
    amounts = dict(StripeSubscription.objects.values_list("stripe_id", "monthly_amount"))
    assert amounts == {"sub_c1": 1500, "sub_c2": 400}
    change = WebhookEvent.objects.get(type="customer.subscription.updated")
    assert (change.run_rate_before, change.run_rate_after) == (1000, 1500)


def test_at_risk_rows_name_people_and_money_largest_first(client: Client) -> None:
    user = StripeCustomerFactory(customer_id="cus_dana").user
    user.first_name, user.last_name = "Dana", "Li"
    user.save()
    for sub_id, customer, amount in [("sub_s", "cus_small", 900), ("sub_d", "cus_dana", 29000)]:
        post(
            client,
            "customer.subscription.created",
            subscription(sub_id, customer, item(amount), cancel_at_period_end=True),
        )
    rows = customers_at_risk()
    assert [(r.customer, r.monthly_amount, r.currency) for r in rows] == [
        ("Dana Li", 29000, "eur"),
        ("cus_small", 900, "eur"),
    ]
    assert rows[0].as_dict()["customer"] == "Dana Li"
    out = io.StringIO()
    call_command("portal_activity", "--at-risk", "--format", "csv", stdout=out)
    exported = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["customer"], r["monthly_amount"], r["currency"]) for r in exported] == [
        ("Dana Li", "29000", "eur"),
        ("cus_small", "900", "eur"),
    ]
    out = io.StringIO()
    call_command("portal_activity", "--at-risk", stdout=out)
    assert "Dana Li" in out.getvalue() and "€290.00 a month" in out.getvalue()


def test_the_command_writes_table_csv_and_json(client: Client) -> None:
    post(client, "customer.subscription.created", subscription("sub_t", "cus_t", item(29000)))
    out = io.StringIO()
    call_command("portal_activity", "--revenue", stdout=out)
    assert "€290.00" in out.getvalue() and "EUR" in out.getvalue()
    out = io.StringIO()
    call_command("portal_activity", "--revenue", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["currencies"][0]["currency"] == "eur" and data["currencies"][0]["mrr"] == 29000
    out = io.StringIO()
    call_command("portal_activity", "--revenue", "--format", "csv", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert ["eur", "mrr", "", "29000"] in rows


def test_currencies_are_never_added_together(client: Client) -> None:
    post(client, "customer.subscription.created", subscription("sub_e", "cus_e", item(1000)))
    usd = subscription("sub_u", "cus_u", item(2500, currency="usd"), currency="usd")
    post(client, "customer.subscription.created", usd)
    today = timezone.localdate()
    report = revenue_report(today, today)
    assert sorted((e.currency, e.mrr) for e in report.currencies) == [("eur", 1000), ("usd", 2500)]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda sub: sub["items"]["data"][0]["price"].update(unit_amount_decimal="1e40"),
        lambda sub: sub["items"]["data"][0]["price"]["recurring"].update(interval="fortnight"),
        lambda sub: sub["items"]["data"][0]["price"].update(billing_scheme="tiered", tiers="x"),
    ],
    ids=["beyond-any-price", "unknown-interval", "tiers-not-a-list"],
)
@pytest.mark.off_contract
def test_a_price_no_stripe_payload_has_leaves_the_figure_unknown(
    client: Client, spoil: Any
) -> None:
    """Signed but not Stripe's: never a 500; the figure is unknown, the row still written."""
    sub = subscription("sub_odd", "cus_odd", item(1000))
    spoil(sub)
    response = post_signed(client, so.event("customer.subscription.created", sub))
    assert response.status_code == 200
    assert StripeSubscription.objects.get().monthly_amount is None


@pytest.mark.off_contract
def test_previous_attributes_the_app_cannot_read_leave_no_figures(client: Client) -> None:
    post(client, "customer.subscription.created", subscription("sub_p", "cus_p", item(1000)))
    event = so.event(
        "customer.subscription.updated",
        subscription("sub_p", "cus_p", item(2000)),
        previous_attributes={"items": {"object": "list", "data": "garbled"}},
    )
    response = post_signed(client, event)
    assert response.status_code in (200, 400)
    assert StripeSubscription.objects.get().monthly_amount in (1000, 2000)


def test_a_coupon_named_by_id_takes_its_terms_from_the_coupon_events(client: Client) -> None:
    """API 2025-09-30 and later: a discount's ``source.coupon`` is an id. The terms come
    from ``coupon.created``/``updated``, whichever arrives first."""
    post(client, "customer.subscription.created", subscription("sub_k", "cus_k", item(4000)))
    waiting = so.discount(customer="cus_k", subscription="sub_k", coupon="LATER20")
    post(client, "customer.discount.created", waiting)
    assert StripeSubscription.objects.get().monthly_amount is None  # cannot tell yet
    post(client, "coupon.created", coupon(id="LATER20", percent_off=20))
    assert StripeSubscription.objects.get().monthly_amount == 3200

    # Known first, then a retention offer made from it: saved, and the coupon's cost.
    post(
        client,
        "coupon.created",
        coupon(id="STAY25", percent_off=25, duration="repeating", months=2),
    )
    post(client, "customer.subscription.created", subscription("sub_s2", "cus_s2", item(4000)))
    visit("cus_s2", flow_type="subscription_cancel", retention_coupon="STAY25")
    post(
        client,
        "customer.discount.created",
        so.discount(customer="cus_s2", subscription="sub_s2", coupon="STAY25"),
    )
    assert StripeSubscription.objects.get(stripe_id="sub_s2").monthly_amount == 3000
    eur = entry()
    assert (eur.saved, eur.discount_cost) == (3000, 1000 * 2)
