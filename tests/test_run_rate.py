"""The run-rate rules (docs/activity.md), each from a payload shaped as Stripe sends it in
one of three API eras: today's (``items.data[].price`` with ``recurring``), the 2018-2020
one (``items.data[].plan`` only) and the pre-2018 one (a top-level ``plan`` and ``quantity``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from django_stripe_portal.webhooks.run_rate import subscription_run_rate
from tests import stripe_objects as so

NOW = 1_780_000_000
MONTH = 30 * 86400


def price(
    amount: int | None = 2900,
    interval: str = "month",
    count: int = 1,
    *,
    currency: str = "eur",
    usage: str = "licensed",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": "price_x",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "currency": currency,
        "recurring": {
            "interval": interval,
            "interval_count": count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": usage,
        },
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": None if amount is None else str(amount),
        **extra,
    }


def today(*items: tuple[dict[str, Any], int], **overrides: Any) -> dict[str, Any]:
    """API 2026-10-28: Stripe's example subscription with these items."""
    sub = so.subscription(status="active", pause_collection=None, currency="eur", discounts=[])
    data = []
    for item_price, quantity in items:
        item = so.subscription_item("price_x", quantity)
        item["price"] = item_price
        item["discounts"] = []
        data.append(item)
    sub["items"]["data"] = data
    sub.update(overrides)
    return sub


def era_2019(amount: int, interval: str, quantity: int, **overrides: Any) -> dict[str, Any]:
    """API 2019-12-03: items carry a ``plan`` and no ``price``; one ``discount``."""
    plan = {
        "id": "plan_x",
        "object": "plan",
        "amount": amount,
        "amount_decimal": str(amount),
        "billing_scheme": "per_unit",
        "currency": "usd",
        "interval": interval,
        "interval_count": 1,
        "tiers_mode": None,
        "transform_usage": None,
        "usage_type": "licensed",
    }
    sub = {
        "id": "sub_2019",
        "object": "subscription",
        "customer": "cus_x",
        "status": "active",
        "discount": None,
        "items": {"object": "list", "data": [{"id": "si_x", "plan": plan, "quantity": quantity}]},
        "pause_collection": None,
        "plan": plan,
        "quantity": quantity,
    }
    sub.update(overrides)
    return sub


def era_2017(amount: int, interval: str, quantity: int, **overrides: Any) -> dict[str, Any]:
    """API 2017-08-15: a single top-level ``plan`` and ``quantity``, no ``items``."""
    sub = {
        "id": "sub_2017",
        "object": "subscription",
        "customer": "cus_x",
        "status": "active",
        "discount": None,
        "plan": {
            "id": "gold",
            "object": "plan",
            "amount": amount,
            "currency": "usd",
            "interval": interval,
            "interval_count": 1,
        },
        "quantity": quantity,
    }
    sub.update(overrides)
    return sub


def rate(obj: dict[str, Any], **options: Any) -> tuple[str, int | None]:
    return subscription_run_rate(obj, at=NOW, **options)


@pytest.mark.parametrize(
    ("item_price", "quantity", "expected"),
    [
        (price(2900), 1, 2900),
        (price(29000, "year"), 1, 2417),  # 29000 / 12 = 2416.67
        (price(1000, "week"), 1, 4333),  # 1000 * 52 / 12 = 4333.33
        (price(100, "day"), 1, 3042),  # 100 * 365 / 12 = 3041.67
        (price(9000, "month", 3), 1, 3000),  # every 3 months
        (price(1200, "year", 2), 1, 50),  # every 2 years
        (price(2900), 4, 11600),  # quantity
        (price(None, unit_amount_decimal="12.345"), 100, 1235),  # decimal, rounded half up
    ],
    ids=["monthly", "yearly", "weekly", "daily", "quarterly", "biennial", "qty", "decimal"],
)
def test_interval_quantity_and_decimals_today(
    item_price: dict[str, Any], quantity: int, expected: int
) -> None:
    assert rate(today((item_price, quantity))) == ("eur", expected)


def test_several_items_add_up_and_metered_ones_are_left_out() -> None:
    sub = today((price(2900), 2), (price(12000, "year"), 1), (price(5, usage="metered"), 0))
    assert rate(sub) == ("eur", 5800 + 1000)


def test_tiered_with_tiers_volume_and_graduated() -> None:
    tiers = [
        {"up_to": 5, "unit_amount": 1000, "flat_amount": None, "unit_amount_decimal": "1000"},
        {"up_to": None, "unit_amount": 800, "flat_amount": 500, "unit_amount_decimal": "800"},
    ]
    volume = price(None, billing_scheme="tiered", tiers_mode="volume", tiers=tiers)
    graduated = price(None, billing_scheme="tiered", tiers_mode="graduated", tiers=tiers)
    assert rate(today((volume, 8))) == ("eur", 8 * 800 + 500)
    assert rate(today((graduated, 8))) == ("eur", 5 * 1000 + 3 * 800 + 500)


def test_tiered_without_tiers_cannot_tell() -> None:
    """Webhooks send a price's tiers only when expanded: the figure is unknown, not 0."""
    tiered = price(None, billing_scheme="tiered", tiers_mode="volume")
    assert rate(today((tiered, 3))) == ("eur", None)


def test_a_price_sent_as_an_id_cannot_tell() -> None:
    sub = today((price(2900), 1))
    sub["items"]["data"][0]["price"] = "price_x"
    sub["items"]["data"][0]["plan"] = "price_x"
    assert rate(sub)[1] is None


@pytest.mark.parametrize("status", ["trialing", "paused", "canceled", "incomplete_expired"])
def test_not_paying_is_zero(status: str) -> None:
    assert rate(today((price(2900), 1), status=status)) == ("eur", 0)


def test_paused_collection_is_zero_while_status_stays_active() -> None:
    sub = today((price(2900), 1), pause_collection={"behavior": "void", "resumes_at": None})
    assert rate(sub) == ("eur", 0)


def discount(
    percent: float | None = None,
    amount: int | None = None,
    currency: str | None = None,
    duration: str = "forever",
    end: int | None = None,
    months: int | None = None,
) -> dict[str, Any]:
    """A discount with its coupon expanded (``source.coupon``, API 2025-09-30 and later)."""
    body = so.discount(subscription="sub_x")
    body["end"] = end
    body["source"]["coupon"] = {
        "id": "CPN",
        "object": "coupon",
        "amount_off": amount,
        "currency": currency,
        "duration": duration,
        "duration_in_months": months,
        "percent_off": percent,
    }
    return body


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (discount(percent=25), 2175),
        (discount(amount=500, currency="eur"), 2400),
        (discount(percent=50, duration="repeating", months=3, end=NOW + MONTH), 1450),
        (discount(percent=50, duration="repeating", months=3, end=NOW - 1), 2900),  # ended
        (discount(percent=50, duration="once"), 2900),  # once is no run rate
        (discount(amount=500, currency="usd"), 2900),  # another currency: ignored
        (discount(amount=9999, currency="eur"), 0),  # never below zero
    ],
    ids=["percent", "amount", "repeating", "repeating-ended", "once", "other-currency", "floor"],
)
def test_discounts_that_last(terms: dict[str, Any], expected: int) -> None:
    assert rate(today((price(2900), 1), discounts=[terms])) == ("eur", expected)


def test_item_discounts_apply_to_their_item_then_the_subscriptions() -> None:
    sub = today((price(2000), 1), (price(1000), 1), discounts=[discount(percent=10)])
    sub["items"]["data"][0]["discounts"] = [discount(amount=1000, currency="eur")]
    assert rate(sub) == ("eur", round((1000 + 1000) * 0.9))


def test_a_discount_named_by_id_needs_its_terms() -> None:
    sub = today((price(2900), 1), discounts=["di_only_an_id"])
    assert rate(sub) == ("eur", None)
    from django_stripe_portal.webhooks.discount_terms import DiscountTerms, coupon_terms

    terms = coupon_terms({"percent_off": 20, "duration": "forever"})
    assert isinstance(terms, DiscountTerms)
    assert rate(sub, known={"di_only_an_id": terms}) == ("eur", 2320)


def test_the_customers_discount_applies_only_without_one_of_the_subscription() -> None:
    from django_stripe_portal.webhooks.discount_terms import coupon_terms

    customers = coupon_terms({"percent_off": 50, "duration": "forever"})
    assert rate(today((price(2900), 1)), customer_discount=customers) == ("eur", 1450)
    own = today((price(2900), 1), discounts=[discount(percent=10)])
    assert rate(own, customer_discount=customers) == ("eur", 2610)


def test_era_2019_plan_only_items_and_the_single_discount() -> None:
    assert rate(era_2019(12000, "year", 2)) == ("usd", 2000)
    legacy_discount = {
        "object": "discount",
        "coupon": {"id": "HALF", "percent_off": 50, "duration": "forever", "amount_off": None},
        "customer": "cus_x",
        "end": None,
        "start": NOW - 10,
        "subscription": "sub_2019",
    }
    assert rate(era_2019(12000, "year", 2, discount=legacy_discount)) == ("usd", 1000)
    assert rate(era_2019(12000, "year", 2, status="trialing")) == ("usd", 0)


def test_era_2017_top_level_plan_and_quantity() -> None:
    assert rate(era_2017(500, "week", 3)) == ("usd", 6500)
    metered = era_2017(500, "month", 3)
    metered["plan"]["usage_type"] = "metered"
    assert rate(metered) == ("usd", 0)


def test_a_multi_currency_price_takes_the_subscriptions_currency_option() -> None:
    multi = price(2900, currency="usd", currency_options={"eur": {"unit_amount": 2700}})
    assert rate(today((multi, 1))) == ("eur", 2700)
    without = price(2900, currency="usd")
    assert rate(today((without, 1)))[1] is None


def test_the_payload_is_not_changed() -> None:
    sub = today((price(2900), 1), discounts=[discount(percent=25)])
    before = copy.deepcopy(sub)
    rate(sub)
    assert sub == before


def test_the_worked_example_of_the_docs() -> None:
    """docs/activity.md, "Money": 2,900 x 3 a month, 12,000 a year, a running 25 %
    repeating discount and a metered item: 7,275."""
    sub = today(
        (price(2900), 3),
        (price(12000, "year"), 1),
        (price(3, usage="metered"), 0),
        discounts=[discount(percent=25, duration="repeating", months=3, end=NOW + MONTH)],
    )
    assert rate(sub) == ("eur", 7275)
