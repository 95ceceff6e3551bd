"""``verify_signature`` on its own, cross-checked against Stripe's SDK."""

from __future__ import annotations

import pytest
import stripe

from django_stripe_portal.exceptions import WebhookRefused
from django_stripe_portal.webhooks.verify import verify_signature

BODY = b'{"id": "evt_1", "object": "event"}'
NOW = 1_800_000_000
SIGNING_A = "whsec_a"


def _header(secret: str = SIGNING_A, timestamp: int = NOW, body: bytes = BODY) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return header


def test_accepts_what_stripe_signs_and_returns_the_timestamp() -> None:
    header = _header()
    stripe.WebhookSignature.verify_header(BODY, header, "whsec_a", tolerance=None)
    assert verify_signature(BODY, header, ["whsec_a"], 300, now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", "missing Stripe-Signature header"),
        ("v1=abc", "malformed Stripe-Signature header"),
        (f"t={NOW}", "malformed Stripe-Signature header"),
        (f"t={NOW},t={NOW},v1=abc", "malformed Stripe-Signature header"),
        (f"t=-{NOW},v1=abc", "malformed Stripe-Signature header"),
        (f"t={NOW}0000000000,v1=abc", "malformed Stripe-Signature header"),
        (f"t={NOW},v0=abc", "malformed Stripe-Signature header"),
        (f"t={NOW},v1=abc", "signature mismatch"),
    ],
)
def test_refuses_malformed_and_wrong_headers(header: str, reason: str) -> None:
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, header, ["whsec_a"], 300, now=NOW)
    assert refused.value.reason == reason


def test_several_secrets_and_signatures_and_spaces() -> None:
    good = _header("whsec_b").split("v1=")[1]
    header = f"t={NOW}, v1={'f' * 64}, v0=zzz, v1={good}"
    assert verify_signature(BODY, header, ["whsec_a", "whsec_b"], 300, now=NOW) == NOW


def test_tampered_body_and_one_byte_off_signature_are_refused() -> None:
    header = _header()
    with pytest.raises(WebhookRefused, match="signature mismatch"):
        verify_signature(BODY + b" ", header, ["whsec_a"], 300, now=NOW)
    last = header[-1]
    flipped = header[:-1] + ("0" if last != "0" else "1")
    with pytest.raises(WebhookRefused, match="signature mismatch"):
        verify_signature(BODY, flipped, ["whsec_a"], 300, now=NOW)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-300, True), (-301, False), (300, True), (301, False)]
)
def test_tolerance_applies_both_ways(offset: int, accepted: bool) -> None:
    header = _header(timestamp=NOW + offset)
    if accepted:
        verify_signature(BODY, header, ["whsec_a"], 300, now=NOW)
    else:
        with pytest.raises(WebhookRefused, match="tolerance"):
            verify_signature(BODY, header, ["whsec_a"], 300, now=NOW)


def test_no_secrets_configured_is_a_refusal_that_names_the_setting() -> None:
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, _header(), [], 300, now=NOW)
    assert "WEBHOOK_SECRETS" in refused.value.detail


def test_details_never_contain_the_secret() -> None:
    with pytest.raises(WebhookRefused) as refused:
        verify_signature(BODY, _header("whsec_other"), ["whsec_a"], 300, now=NOW)
    assert "whsec_a" not in refused.value.detail and "whsec_other" not in refused.value.detail
