"""The way back from the portal: the signed return link, and where it may lead.

The link is part of the session create request, so it is built before Stripe
assigns the ``bps_…`` id: its signed, expiring token names a random key stored on
the ``PortalSession`` row instead. Where the user lands after it is never a host
the site does not vouch for.
"""

from __future__ import annotations

import secrets
from urllib.parse import unquote, urlsplit

from django.core import signing
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

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
    try:
        path = urlsplit(url).path
    except ValueError:  # "http://[": not a URL at all, so not one of ours
        return False
    token = unquote(path.rstrip("/").rpartition("/")[2])
    try:
        _signer().unsign(token)
    except signing.BadSignature:
        return False
    return True


#: The length of ``PortalSession.return_to``; anything longer is not a page of ours.
MAX_RETURN_TO_LENGTH = 2000


def default_return_url() -> str:
    """``RETURN_URL`` resolved: a path, a URL name, or an absolute URL.

    A path or an http(s) URL is used as written: ``resolve_url`` would first try it as
    a URL name, and a failed ``reverse`` costs more than the rest of this module on a click.
    """
    value = get_settings().RETURN_URL
    if isinstance(value, str) and value.startswith(("/", "https://", "http://")):
        return value
    return str(resolve_url(value))


def safe_return_to(request: HttpRequest, candidate: str | None) -> str | None:
    """``candidate`` if it is an absolute path, or an URL on the request's host or on
    ``ALLOWED_RETURN_HOSTS`` (https only when the request is https); else None."""
    if not candidate:
        return None
    candidate = candidate.strip()
    if not candidate or len(candidate) > MAX_RETURN_TO_LENGTH:
        return None
    if any(char < " " or char == "\x7f" for char in candidate):
        # Browsers drop tab, CR and LF, so "/\t/evil.com" is "//evil.com" to them; and no
        # page of ours has a control character in its address (PostgreSQL cannot even
        # store a NUL: "/a\x00" was a 500).
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:  # "http://[" (an unclosed IPv6 host): not a place to send anyone
        return None
    if not candidate.startswith("/") and not (parts.scheme and parts.netloc):
        # "billing/" (or "://x") would resolve against whichever page the browser is on.
        return None
    if candidate.replace("\\", "/").startswith("//"):
        # Scheme-relative ("//host", "/\\host"): never a path of ours, even when hostless.
        return None
    allowed_hosts = {request.get_host(), *get_settings().ALLOWED_RETURN_HOSTS}
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts=allowed_hosts, require_https=request.is_secure()
    ):
        return candidate
    return None


def return_to_or_default(request: HttpRequest, candidate: str | None) -> str:
    """The safe ``candidate``, or ``RETURN_URL`` in its place."""
    return safe_return_to(request, candidate) or default_return_url()
