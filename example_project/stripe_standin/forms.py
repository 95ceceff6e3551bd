"""Form strings as the values an endpoint means.

The form body itself is decoded by ``django_stripe_portal.testing.stripe_forms.decode_form``
(one decoder for the stand-in and the package's test double).
"""

from __future__ import annotations

from typing import Any


def typed(value: Any) -> Any:
    """Form strings as JSON values: "true"/"false" → bool, "" → None (Stripe's "unset")."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if value == "true":
        return True
    if value == "false":
        return False
    if value == "":
        return None
    return value


def as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
