"""The signed, expiring token in the return link given to Stripe.

The link is part of the session create request, so it is built before Stripe
assigns the ``bps_…`` id: the token signs a random key that is stored on the
``PortalSession`` row instead.
"""

from __future__ import annotations

import secrets
from urllib.parse import unquote, urlsplit

from django.core import signing

from django_stripe_portal.conf import get_settings

_SALT = "django_stripe_portal.return"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def new_return_key() -> str:
    """A fresh unguessable key for one portal visit (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def sign_return_key(return_key: str) -> str:
    """The token for the return link: the key, a timestamp and a signature, URL-path safe."""
    return _signer().sign(return_key)


def read_return_key(token: str) -> str | None:
    """The key a valid token names, or None when it is forged, tampered with or expired."""
    try:
        return _signer().unsign(token, max_age=int(get_settings().RETURN_TOKEN_MAX_AGE))
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None


def is_own_return_link(url: object) -> bool:
    """Whether ``url`` ends in a token this app signed (expired or not).

    A portal session whose ``return_url`` is such a link was opened by this app's
    redirect view, which records it and sends ``portal_session_created`` itself.
    """
    if not isinstance(url, str) or not url:
        return False
    token = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    try:
        _signer().unsign(token)
    except signing.BadSignature:
        return False
    return True
