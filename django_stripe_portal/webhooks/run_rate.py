"""A subscription's run rate per month, read from its payload: the MRR rules of
``docs/activity.md`` in one pure module (no database, no Stripe call; dicts in, figures out).

Two steps, so that a discount learned later (``customer.discount.*``) can be applied to a
stored subscription without its payload:

* :func:`run_rate_basis` reads a subscription payload (any API era the app accepts:
  ``items.data[].price``, the legacy ``items.data[].plan``, the pre-2018 top-level
  ``plan``/``quantity``) into a :class:`RunRateBasis`, a JSON-able dict: the currency,
  each licensed item's undiscounted amount per month, the discounts that apply to
  each item and to the subscription, and whether the subscription is live;
* :func:`monthly_amount` applies the discounts that last to that basis and rounds once,
  half up, to an integer in the currency's minor units.

``None`` means the payloads cannot tell (a price sent as a bare id, a tiered price sent
without its tiers, a discount whose coupon the app has not seen).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django_stripe_portal.webhooks.discount_terms import (
    DiscountTerms,
    decimal_of,
    discount_id,
    discount_list,
    discount_terms,
)

#: Statuses whose run rate is 0: not paying (yet, or any more).
NOT_PAYING_STATUSES = ("trialing", "paused", "canceled", "incomplete_expired")
#: Months in one ``recurring.interval``.
MONTHS_PER_INTERVAL = {
    "month": Decimal(1),
    "year": Decimal(12),
    "week": Decimal(12) / Decimal(52),
    "day": Decimal(12) / Decimal(365),
}

_BIGINT_LIMIT = 2**63

#: A JSON-able basis: {"currency": str, "live": bool, "items": [[amount, [di…]] | None],
#: "discounts": [di…]}; amounts are decimal strings (undiscounted, per month).
RunRateBasis = dict[str, Any]


def discounts_carried(obj: Mapping[str, Any]) -> dict[str, DiscountTerms]:
    """The terms of every discount the payload expands (subscription's and items')."""
    found: list[Any] = [
        *discount_list(obj.get("discounts")),
        *discount_list(obj.get("discount")),
    ]
    for item in _items(obj):
        found.extend(discount_list(item.get("discounts")))
    terms = {}
    for discount in found:
        read = discount_terms(discount)
        if read is not None:
            terms[discount_id(discount)] = read
    return terms


def _items(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = obj.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict) and not item.get("deleted")]
    if isinstance(obj.get("plan"), dict):  # before items (API 2018-02-05): one plan
        return [{"plan": obj["plan"], "quantity": obj.get("quantity")}]
    return []


def _tiered_total(tiers: list[Any], mode: Any, quantity: int) -> Decimal | None:
    """The amount a tiered price bills for ``quantity`` units per period."""
    tiers = [t for t in tiers if isinstance(t, dict)]
    if not tiers:
        return None

    def tier_amount(tier: dict[str, Any], units: int) -> Decimal | None:
        unit = decimal_of(tier.get("unit_amount_decimal"))
        if unit is None:
            unit = decimal_of(tier.get("unit_amount")) or Decimal(0)
        flat = decimal_of(tier.get("flat_amount_decimal"))
        if flat is None:
            flat = decimal_of(tier.get("flat_amount")) or Decimal(0)
        return unit * units + flat

    if mode == "volume":
        for tier in tiers:
            if tier.get("up_to") is None or quantity <= int(tier["up_to"]):
                return tier_amount(tier, quantity)
        return None
    total, below = Decimal(0), 0
    for tier in tiers:  # graduated: each tier bills the units that fall in it
        if below >= quantity:
            break
        upper = quantity if tier.get("up_to") is None else min(int(tier["up_to"]), quantity)
        amount = tier_amount(tier, upper - below)
        if amount is None:
            return None
        total += amount
        below = upper
    return total


def _item_amount(
    item: dict[str, Any], currency: str, top_quantity: Any
) -> tuple[str, Decimal | None] | None:
    """(currency, undiscounted amount per month) of one item; None for a metered item
    (not run rate); an amount of None when the payload cannot tell."""
    price = item.get("price")
    plan = item.get("plan")
    source: dict[str, Any] | None = price if isinstance(price, dict) else None
    if source is None and isinstance(plan, dict):
        source = plan
    if source is None:
        return currency, None
    recurring = source.get("recurring")
    if isinstance(recurring, dict):
        interval, count = recurring.get("interval"), recurring.get("interval_count")
        usage = recurring.get("usage_type")
    else:  # a plan: interval fields at the top
        interval, count = source.get("interval"), source.get("interval_count")
        usage = source.get("usage_type")
    if usage == "metered":
        return None
    item_currency = str(source.get("currency") or "").lower()
    quantity = item.get("quantity", top_quantity)
    quantity = 1 if quantity is None else int(quantity)
    unit: Decimal | None
    options = source.get("currency_options")
    if currency and item_currency and currency != item_currency:
        option = options.get(currency) if isinstance(options, dict) else None
        if not isinstance(option, dict):
            return currency, None  # a multi-currency price sent without its options
        amounts = ("unit_amount", "unit_amount_decimal", "tiers")
        source = {**source, **{key: option.get(key) for key in amounts}}
        item_currency = currency
    months = MONTHS_PER_INTERVAL.get(str(interval))
    if months is None:
        return item_currency, None
    per_period: Decimal | None
    if source.get("billing_scheme") == "tiered":
        tiers = source.get("tiers")
        per_period = (
            _tiered_total(tiers, source.get("tiers_mode"), quantity)
            if isinstance(tiers, list)
            else None
        )
    else:
        unit = decimal_of(source.get("unit_amount_decimal"))
        if unit is None:
            unit = decimal_of(source.get("amount_decimal"))
        if unit is None:
            unit = decimal_of(source.get("unit_amount", source.get("amount")))
        transform = source.get("transform_quantity") or source.get("transform_usage")
        if isinstance(transform, dict) and int(transform.get("divide_by") or 0) > 0:
            rounding = ROUND_CEILING if transform.get("round") == "up" else ROUND_FLOOR
            quantity = int(
                (Decimal(quantity) / int(transform["divide_by"])).to_integral_value(rounding)
            )
        per_period = None if unit is None else unit * quantity
    if per_period is None:
        return item_currency, None
    return item_currency, per_period / (months * int(count or 1))


def is_paying(obj: Mapping[str, Any]) -> bool:
    """Not trialing, not paused (by status or ``pause_collection``), not ended."""
    return obj.get("status") not in NOT_PAYING_STATUSES and not isinstance(
        obj.get("pause_collection"), dict
    )


def run_rate_basis(obj: Mapping[str, Any], *, live: bool | None = None) -> RunRateBasis:
    """What the run rate of a subscription payload rests on (see the module docstring).

    ``live`` overrides the status test (the run rate a subscription had while it paid,
    e.g. the one a cancellation loses)."""
    currency = str(obj.get("currency") or "").lower()
    items: list[list[Any] | None] = []
    for item in _items(obj):
        read = _item_amount(item, currency, obj.get("quantity"))
        if read is None:  # metered: usage is not run rate (its currency still is the one)
            source = item.get("price") if isinstance(item.get("price"), dict) else item.get("plan")
            if not currency and isinstance(source, dict):
                currency = str(source.get("currency") or "").lower()
            continue
        item_currency, amount = read
        currency = currency or item_currency
        if amount is None or (item_currency and item_currency != currency):
            items.append(None)
            continue
        ids = [discount_id(d) for d in discount_list(item.get("discounts"))]
        items.append([str(amount), ids])
    discounts = [discount_id(d) for d in discount_list(obj.get("discounts"))]
    if not discounts:
        discounts = [discount_id(d) for d in discount_list(obj.get("discount"))]
    return {
        "currency": currency,
        "live": is_paying(obj) if live is None else live,
        "items": items,
        "discounts": discounts,
    }


def _apply(amount: Decimal, terms: DiscountTerms, currency: str, at: int) -> Decimal:
    if not terms.lasts_at(at):
        return amount
    if terms.percent_off is not None:
        return amount * (Decimal(100) - terms.percent_off) / Decimal(100)
    off = terms.amount_off_in(currency)
    if off is None:
        return amount  # a discount in another currency takes nothing off this one
    return max(Decimal(0), amount - off)


def monthly_amount(
    basis: RunRateBasis,
    terms: Mapping[str, DiscountTerms],
    *,
    at: int,
    customer_discount: DiscountTerms | None = None,
) -> int | None:
    """The run rate per month in minor units at Unix time ``at`` (0 while not paying;
    None where the payloads cannot tell).

    Each item's own discounts first, then the subscription's, in Stripe's order; the
    customer's discount applies only to a subscription with none of its own. An
    ``amount_off`` is taken off each month the discount lasts (as from each monthly
    invoice). Rounded once, half up, at the end.
    """
    if not basis.get("live"):
        return 0
    currency = str(basis.get("currency") or "")
    total = Decimal(0)
    for item in basis.get("items") or []:
        if item is None:
            return None
        amount = Decimal(item[0])
        for identifier in item[1]:
            if identifier not in terms:
                return None
            amount = _apply(amount, terms[identifier], currency, at)
        total += amount
    own = list(basis.get("discounts") or [])
    for identifier in own:
        if identifier not in terms:
            return None
        total = _apply(total, terms[identifier], currency, at)
    has_item_discounts = any(item and item[1] for item in basis.get("items") or [])
    if customer_discount is not None and not own and not has_item_discounts:
        total = _apply(total, customer_discount, currency, at)
    try:
        rounded = int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except ArithmeticError:  # beyond Decimal's precision: no price of Stripe's
        return None
    return rounded if abs(rounded) < _BIGINT_LIMIT else None


def needed_discounts(basis: RunRateBasis) -> list[str]:
    """Every discount id the basis names (to look up the terms a payload did not carry)."""
    ids = list(basis.get("discounts") or [])
    for item in basis.get("items") or []:
        if item:
            ids.extend(item[1])
    return ids


def subscription_run_rate(
    obj: Mapping[str, Any],
    *,
    at: int,
    known: Mapping[str, DiscountTerms] | None = None,
    customer_discount: DiscountTerms | None = None,
    live: bool | None = None,
) -> tuple[str, int | None]:
    """(currency, monthly amount) of a subscription payload at ``at``; ``known`` adds the
    terms of discounts the payload names by id only."""
    basis = run_rate_basis(obj, live=live)
    terms = {**(known or {}), **discounts_carried(obj)}
    amount = monthly_amount(basis, terms, at=at, customer_discount=customer_discount)
    return basis["currency"], amount
