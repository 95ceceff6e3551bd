"""The one ``stripe.StripeClient`` every part of the app talks to Stripe through.

Nothing here touches the global ``stripe.api_key``: a host project may use the
SDK elsewhere with other keys.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import urlsplit

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
        # Organization API keys: every call names the account it acts in.
        stripe_context=conf.STRIPE_CONTEXT or None,
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


def request_options(
    account: str, *, idempotency_key: str | None = None, context: str = ""
) -> stripe.RequestOptions:
    """Request options that send ``Stripe-Account`` for a connected account (Connect) and
    nothing for the platform (``""``), plus the idempotency key, if any, and a
    ``Stripe-Context`` (organization keys) other than ``STRIPE_CONTEXT``, if any."""
    options: stripe.RequestOptions = {}
    if account:
        options["stripe_account"] = account
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    if context:
        options["stripe_context"] = context
    return options


def api_host() -> str:
    """The host the client sends requests to (``API_BASE``'s, else Stripe's)."""
    base = get_settings().API_BASE or stripe.DEFAULT_API_BASE
    try:
        return urlsplit(base).netloc or base
    except ValueError:  # "http://[": the check of API_BASE says what is wrong with it
        return base


def unreachable_reason(error: stripe.APIConnectionError) -> str:
    """Why no answer came, in a few words, from the HTTP library's exception text."""
    cause = f"{type(error.__cause__).__name__} {error.__cause__} {error}"
    if "NameResolution" in cause or "resolve" in cause or "getaddrinfo" in cause:
        return "its name does not resolve: no network, or no DNS"
    if "Timeout" in cause or "timed out" in cause:
        return "no answer in time"
    if "refused" in cause:
        return "the connection was refused"
    if "SSL" in cause or "certificate" in cause:
        return "the TLS connection failed"
    return "no connection"


def stripe_error_text(error: stripe.StripeError) -> str:
    """One line for a command's error: for an unreachable API, the host and why (not the
    SDK's multi-line boilerplate); else Stripe's message and the request id."""
    if isinstance(error, stripe.APIConnectionError):
        return f"could not reach Stripe at {api_host()} ({unreachable_reason(error)})"
    message = " ".join(str(error.user_message or error).split())
    return f"{message} (request id {request_id_of(error) or 'none'})"
