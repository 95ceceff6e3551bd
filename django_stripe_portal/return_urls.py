"""Where a user may be sent back to: never a host the site does not vouch for."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from django_stripe_portal.conf import get_settings

#: The length of ``PortalSession.return_to``; anything longer is not a page of ours.
MAX_RETURN_TO_LENGTH = 2000


def default_return_url() -> str:
    """``RETURN_URL`` resolved: a path, a URL name, or an absolute URL."""
    return str(resolve_url(get_settings().RETURN_URL))


def safe_return_to(request: HttpRequest, candidate: str | None) -> str | None:
    """``candidate`` if it is an absolute path, or an URL on the request's host or on
    ``ALLOWED_RETURN_HOSTS`` (https only when the request is https); else None."""
    if not candidate:
        return None
    candidate = candidate.strip()
    if not candidate or len(candidate) > MAX_RETURN_TO_LENGTH:
        return None
    if any(char in candidate for char in "\t\r\n"):
        # Browsers drop these, so "/\t/evil.com" is "//evil.com" to them.
        return None
    parts = urlsplit(candidate)
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
