"""The one ``stripe.StripeClient`` every part of the app talks to Stripe through.

Nothing here touches the global ``stripe.api_key``: a host project may use the
SDK elsewhere with other keys.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import stripe
from django.core.signals import setting_changed
from django.dispatch import receiver
from stripe._base_address import BaseAddresses

from django_stripe_portal.conf import SETTING_NAME, get_settings


@cache
def get_client() -> stripe.StripeClient:
    """Build the client from ``STRIPE_PORTAL`` once; rebuilt when settings change."""
    conf = get_settings()
    base_addresses: BaseAddresses = {}
    if conf.API_BASE:
        base_addresses["api"] = conf.API_BASE.rstrip("/")
    return stripe.StripeClient(
        conf.require_api_key(),
        stripe_version=conf.api_version,
        base_addresses=base_addresses,
        max_network_retries=conf.MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=conf.API_TIMEOUT),
    )


@receiver(setting_changed)
def _rebuild_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        get_client.cache_clear()


def request_id_of(error: BaseException) -> str | None:
    """The ``request-id`` Stripe returned with an error, for logs and messages."""
    if isinstance(error, stripe.StripeError):
        return error.request_id
    return None


def request_options(account: str, *, idempotency_key: str | None = None) -> stripe.RequestOptions:
    """Request options that send ``Stripe-Account`` for a connected account (Connect) and
    nothing for the platform (``""``), plus the idempotency key, if any."""
    options: stripe.RequestOptions = {}
    if account:
        options["stripe_account"] = account
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    return options
