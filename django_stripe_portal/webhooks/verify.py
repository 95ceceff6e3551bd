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
from collections.abc import Mapping, Sequence
from typing import Any

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


#: Which endpoint's secrets signed a delivery: the platform's, the Connect endpoint's.
PLATFORM_ENDPOINT = "platform"
CONNECT_ENDPOINT = "connect"


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance: float,
    now: float | None = None,
) -> int:
    """Raise :class:`WebhookRefused` unless ``header`` signs ``body`` with one of ``secrets``
    within ``tolerance`` seconds of ``now`` (either side). Returns the signed timestamp."""
    timestamp, _ = verify_signature_of_endpoints(
        body, header, {PLATFORM_ENDPOINT: secrets}, tolerance, now
    )
    return timestamp


def verify_signature_of_endpoints(
    body: bytes,
    header: str | None,
    secrets_by_endpoint: Mapping[str, Sequence[str]],
    tolerance: float,
    now: float | None = None,
) -> tuple[int, frozenset[str]]:
    """:func:`verify_signature` against several endpoints' secrets at once: the signed
    timestamp, and which endpoints (keys of ``secrets_by_endpoint``) have a secret that
    signed the body.

    Every secret of every endpoint is compared (in constant time, all of them), and
    nothing of the body is read before that: which endpoint an event may come from is
    decided afterwards, by :func:`check_signing_endpoint` on the verified body.
    """
    if not any(secrets_by_endpoint.values()):
        raise WebhookRefused(
            "webhook secret not configured",
            "STRIPE_PORTAL['WEBHOOK_SECRETS'] (and CONNECT_WEBHOOK_SECRETS) is empty: set it to "
            "the endpoint's whsec_… secret",
        )
    if not header:
        raise WebhookRefused("missing Stripe-Signature header")
    if not header.isascii():
        # int("²") and hmac.compare_digest("é", …) raise: refuse before either runs.
        raise WebhookRefused("malformed Stripe-Signature header", "non-ASCII characters")
    timestamp, signatures = _parse_header(header)

    signed = b"%d." % timestamp + body
    matched: set[str] = set()
    for endpoint, secrets in secrets_by_endpoint.items():
        if _any_secret_signed(signed, signatures, secrets):
            matched.add(endpoint)
    if not matched:
        count = sum(len(secrets) for secrets in secrets_by_endpoint.values())
        raise WebhookRefused(
            "signature mismatch",
            f"no {SIGNATURE_SCHEME} signature matched any of the {count} configured "
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
    return timestamp, frozenset(matched)


def _any_secret_signed(signed: bytes, signatures: list[str], secrets: Sequence[str]) -> bool:
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for signature in signatures:
            # Every comparison runs, so the time taken does not tell which one matched.
            matched |= hmac.compare_digest(expected, signature)
    return matched


def check_signing_endpoint(event: Mapping[str, Any], signed_by: frozenset[str]) -> None:
    """Refuse an event signed by the wrong endpoint's secret.

    A Connect endpoint's events carry ``account`` (the connected account they come
    from); a platform endpoint's never do. ``account`` is part of the signed body, so
    once the signature holds it can be trusted, but only together with *which* secret
    signed: a platform secret must not vouch for an event claiming a connected account
    (it would write that merchant's rows), nor a Connect secret for a platform event.
    """
    account = event.get("account")
    if account:
        if CONNECT_ENDPOINT not in signed_by:
            raise WebhookRefused(
                "Connect event not signed by the Connect endpoint",
                f"the event names the connected account {account!r} but was signed with a "
                "WEBHOOK_SECRETS secret; put the Connect endpoint's secret in "
                "STRIPE_PORTAL['CONNECT_WEBHOOK_SECRETS'] (`setup_stripe_webhook --connect`)",
            )
    elif PLATFORM_ENDPOINT not in signed_by:
        raise WebhookRefused(
            "platform event signed by the Connect endpoint",
            "the event names no connected account but was signed with a "
            "CONNECT_WEBHOOK_SECRETS secret; put the platform endpoint's secret in "
            "STRIPE_PORTAL['WEBHOOK_SECRETS']",
        )
