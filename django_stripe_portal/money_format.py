"""Money as people read it: integer minor units (as Stripe and the app keep them) shown
in the currency's major unit, with its symbol and the locale's separators.

Stripe's zero-decimal currencies (JPY, KRW, …) have no minor unit; a few have three
decimals (https://docs.stripe.com/currencies).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext

ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩"}


def exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's major unit."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units → the major unit (290_00 eur → 290.00)."""
    return Decimal(amount).scaleb(-exponent(currency))


def format_money(amount: int | None, currency: str, *, per_month: bool = False) -> str:
    """``€290.00``, ``¥5,000``, ``CHF 12.50`` (``"-"`` for an unknown amount); with
    ``per_month``: ``€290.00 a month``."""
    if amount is None:
        return "-"
    places = exponent(currency)
    number = number_format(to_major(abs(amount), currency), places, force_grouping=True)
    symbol = _SYMBOLS.get(currency.lower())
    text = f"{symbol}{number}" if symbol else f"{currency.upper()} {number}"
    if amount < 0:
        text = "-" + text
    return gettext("%(amount)s a month") % {"amount": text} if per_month else text
