"""The ``Stripe-Signature`` check, run on the raw body before anything is stored.

Written out rather than delegated to ``stripe.WebhookSignature.verify_header``
because that function accepts timestamps from the future, cannot tell the
refusal reasons apart (the log line is what support reads) and decodes the
body once per secret; the cryptography is the same HMAC-SHA256 over
``"{t}.{body}"``, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from django_stripe_portal.exceptions import WebhookRefused

SIGNATURE_SCHEME = "v1"

_MIX_UP_HINT = (
    "check STRIPE_PORTAL['WEBHOOK_SECRETS']: a secret printed by `stripe listen` does not "
    "sign Dashboard deliveries and a Dashboard endpoint's secret does not sign `stripe listen` "
    "deliveries"
)


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                raise WebhookRefused("malformed Stripe-Signature header", "bad or repeated t=")
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookRefused("malformed Stripe-Signature header", "no t= timestamp")
    if not signatures:
        raise WebhookRefused(
            "malformed Stripe-Signature header", f"no {SIGNATURE_SCHEME}= signature"
        )
    return timestamp, signatures


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance: int,
    now: float | None = None,
) -> int:
    """Raise :class:`WebhookRefused` unless ``header`` signs ``body`` with one of ``secrets``
    within ``tolerance`` seconds of ``now`` (either side). Returns the signed timestamp."""
    if not secrets:
        raise WebhookRefused(
            "webhook secret not configured",
            "STRIPE_PORTAL['WEBHOOK_SECRETS'] is empty: set it to the endpoint's whsec_… secret",
        )
    if not header:
        raise WebhookRefused("missing Stripe-Signature header")
    if not header.isascii():
        # int("²") and hmac.compare_digest("é", …) raise: refuse before either runs.
        raise WebhookRefused("malformed Stripe-Signature header", "non-ASCII characters")
    timestamp, signatures = _parse_header(header)

    signed = b"%d." % timestamp + body
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for signature in signatures:
            # Every comparison runs, so the time taken does not tell which one matched.
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise WebhookRefused(
            "signature mismatch",
            f"no {SIGNATURE_SCHEME} signature matched any of the {len(secrets)} configured "
            f"secret(s), or the body was altered; {_MIX_UP_HINT}",
        )

    age = (time.time() if now is None else now) - timestamp
    if age > tolerance:
        raise WebhookRefused(
            "timestamp outside tolerance",
            f"signed {int(age)}s ago, more than WEBHOOK_TOLERANCE={tolerance}s "
            "(a replayed delivery, or this server's clock is off)",
        )
    if -age > tolerance:
        raise WebhookRefused(
            "timestamp outside tolerance",
            f"signed {int(-age)}s in the future, more than WEBHOOK_TOLERANCE={tolerance}s "
            "(this server's clock is off)",
        )
    return timestamp
