"""A discount's terms as payloads carry them: what a coupon takes off (``percent_off``, or
``amount_off`` in a currency) and for how long. Pure: dicts in, ``DiscountTerms`` out;
``webhooks.run_rate`` applies them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class DiscountTerms:
    """What a discount takes off, and for how long (a coupon's terms)."""

    percent_off: Decimal | None = None
    amount_off: int | None = None
    #: The currency of ``amount_off`` (lowercase); ``currency_options`` add others.
    currency: str = ""
    currency_options: tuple[tuple[str, int], ...] = ()
    duration: str = "forever"
    #: Unix time a ``repeating`` discount ends (the discount's ``end``).
    end: int | None = None
    #: A ``repeating`` coupon's ``duration_in_months``.
    months: int | None = None

    def lasts_at(self, at: int) -> bool:
        """Part of the run rate at ``at``: ``forever``, or ``repeating`` until its end."""
        if self.duration == "forever":
            return True
        if self.duration == "repeating":
            return self.end is None or self.end > at
        return False

    def amount_off_in(self, currency: str) -> int | None:
        if self.currency == currency and self.amount_off is not None:
            return self.amount_off
        return dict(self.currency_options).get(currency)

    def as_dict(self) -> dict[str, Any]:
        return {
            "percent_off": None if self.percent_off is None else str(self.percent_off),
            "amount_off": self.amount_off,
            "currency": self.currency,
            "currency_options": [list(pair) for pair in self.currency_options],
            "duration": self.duration,
            "end": self.end,
            "months": self.months,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiscountTerms:
        percent = data.get("percent_off")
        return cls(
            percent_off=None if percent is None else Decimal(str(percent)),
            amount_off=data.get("amount_off"),
            currency=str(data.get("currency") or ""),
            currency_options=tuple((str(c), int(a)) for c, a in data.get("currency_options") or ()),
            duration=str(data.get("duration") or "forever"),
            end=data.get("end"),
            months=data.get("months"),
        )


def decimal_of(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def coupon_terms(coupon: Any, end: Any = None) -> DiscountTerms | None:
    """A coupon object's terms (None: a bare id, or no amount the app can read)."""
    if not isinstance(coupon, dict):
        return None
    percent = decimal_of(coupon.get("percent_off"))
    amount = coupon.get("amount_off")
    if percent is None and not isinstance(amount, int):
        return None
    options = coupon.get("currency_options") or {}
    return DiscountTerms(
        percent_off=percent,
        amount_off=amount if isinstance(amount, int) else None,
        currency=str(coupon.get("currency") or "").lower(),
        currency_options=tuple(
            sorted(
                (str(code).lower(), int(option["amount_off"]))
                for code, option in options.items()
                if isinstance(option, dict) and isinstance(option.get("amount_off"), int)
            )
        )
        if isinstance(options, dict)
        else (),
        duration=str(coupon.get("duration") or "forever"),
        end=end if isinstance(end, int) else None,
        months=months if isinstance(months := coupon.get("duration_in_months"), int) else None,
    )


def discount_terms(discount: Any) -> DiscountTerms | None:
    """A discount object's terms: its coupon (``source.coupon`` since API 2025-09-30, or
    ``coupon`` before), expanded; None when the payload names the coupon by id only."""
    if not isinstance(discount, dict):
        return None
    source = discount.get("source")
    coupon = source.get("coupon") if isinstance(source, dict) else None
    if coupon is None:
        coupon = discount.get("coupon")
    return coupon_terms(coupon, discount.get("end"))


def discount_id(discount: Any) -> str:
    """The id of a discount given as an id or an object (older eras' single ``discount``
    may carry none: it is then named after its coupon)."""
    if isinstance(discount, str):
        return discount
    if not isinstance(discount, dict) or discount.get("deleted"):
        return ""
    if discount.get("id"):
        return str(discount["id"])
    coupon = discount.get("coupon")
    return f"coupon:{coupon.get('id')}" if isinstance(coupon, dict) else ""


def discount_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [d for d in value if discount_id(d)]
    if isinstance(value, dict | str) and discount_id(value):
        return [value]
    return []
