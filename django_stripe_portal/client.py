"""The one ``stripe.StripeClient`` every part of the app talks to Stripe through.

Nothing here touches the global ``stripe.api_key``: a host project may use the
SDK elsewhere with other keys.
"""

from __future__ import annotations

from functools import cache

import stripe
from stripe._base_address import BaseAddresses

from django_stripe_portal.conf import get_settings


@cache
def get_client() -> stripe.StripeClient:
    """Build the client from ``STRIPE_PORTAL`` once; rebuilt when settings change."""
    conf = get_settings()
    base_addresses: BaseAddresses = {}
    if conf.API_BASE:
        base_addresses["api"] = str(conf.API_BASE).rstrip("/")
    return stripe.StripeClient(
        conf.require_api_key(),
        stripe_version=conf.api_version,
        base_addresses=base_addresses,
        max_network_retries=int(conf.MAX_NETWORK_RETRIES),
        http_client=stripe.RequestsClient(timeout=float(conf.API_TIMEOUT)),
    )


def request_id_of(error: BaseException) -> str | None:
    """The ``request-id`` Stripe returned with an error, for logs and messages."""
    if isinstance(error, stripe.StripeError):
        return error.request_id
    return None
