"""The steps every event takes before it is stored, however it reached the site.

A delivery (``views.webhook``, after its signature check) and an event read from
the Events API with the API key (``catch_up``) both go through
:func:`accept_event`, so a listed event is refused, understood and redacted exactly
as the same event delivered would be.
"""

from __future__ import annotations

from typing import Any

from django_stripe_portal.webhooks.interpret import Interpretation, understand_event
from django_stripe_portal.webhooks.parse import (
    check_mode,
    json_text_of,
    parse_event,
    redact_secrets,
)
from django_stripe_portal.webhooks.verify import check_signing_endpoint


def accept_event(
    body: bytes, livemode: bool, *, signed_by: frozenset[str] | None = None
) -> tuple[dict[str, Any], Interpretation]:
    """The event and what it means, ready for ``receive_event``; raises ``WebhookRefused``
    (a 400 for a delivery) for a body that is not a Stripe event of this site's mode, or,
    for a delivery, one whose ``account`` does not match the endpoint (``signed_by``:
    platform or Connect) whose secret signed it."""
    event = parse_event(body)
    text = json_text_of(body)
    if signed_by is not None:
        check_signing_endpoint(event, signed_by)
    check_mode(event, livemode)
    meaning = understand_event(event)
    if not redact_secrets(event):
        meaning.payload_json = text
    return event, meaning
