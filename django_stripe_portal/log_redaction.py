"""Keep credentials out of logs, including the ``stripe`` SDK's own: portal session URLs
always, webhook signing secrets while an endpoint is created.

The SDK logs every response body at DEBUG; a portal session body carries the session
URL, which lets whoever holds it into the customer's billing account, and an endpoint
create answer carries the signing secret.

What no filter can reach: with ``STRIPE_LOG=debug`` (or ``stripe.log = "debug"``) the
SDK also prints those lines to stderr itself, past ``logging``; the system check
``stripe_portal.W014`` says so (see :func:`sdk_prints_response_bodies`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import stripe

REDACTED = "[redacted]"

# "url": "…" inside a logged billing_portal.session body (quotes may be escaped by logfmt).
_SESSION_URL_FIELD_RE = re.compile(r'(url\\?"\s*:\s*\\?")[^"\\\s]+')
# A portal session link anywhere else: https://billing.stripe.com/p/session/…
_SESSION_LINK_RE = re.compile(r"https?://[^\s\"'\\]+/p/session/[^\s\"'\\]+")
_SIGNING_SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=_-]+")


def redact_signing_secrets(text: str) -> str:
    """``text`` with every webhook signing secret replaced by ``whsec_[redacted]``."""
    return _SIGNING_SECRET_RE.sub("whsec_[redacted]", text) if "whsec_" in text else text


def redact_portal_urls(text: str) -> str:
    """``text`` with every portal session URL replaced by ``[redacted]``."""
    if "billing_portal.session" in text:
        text = _SESSION_URL_FIELD_RE.sub(rf"\1{REDACTED}", text)
    return _SESSION_LINK_RE.sub(REDACTED, text)


class _Redact(logging.Filter):
    """Rewrites a record's message through :meth:`redact` before any handler sees it."""

    def redact(self, text: str) -> str:
        raise NotImplementedError

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


class RedactPortalUrls(_Redact):
    """No portal session URL leaves the process."""

    def redact(self, text: str) -> str:
        return redact_portal_urls(text)


class RedactSigningSecrets(_Redact):
    """No webhook signing secret leaves the process."""

    def redact(self, text: str) -> str:
        return redact_signing_secrets(text)


def install(logger_name: str = "stripe") -> None:
    """Attach the filter to ``logger_name`` once (called from ``AppConfig.ready``)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactPortalUrls) for existing in logger.filters):
        logger.addFilter(RedactPortalUrls())


@contextmanager
def signing_secrets_kept_out_of_logs(logger_name: str = "stripe") -> Iterator[None]:
    """While an endpoint is created: its answer (logged at DEBUG) holds the secret."""
    logger = logging.getLogger(logger_name)
    redact = RedactSigningSecrets()
    logger.addFilter(redact)
    try:
        yield
    finally:
        logger.removeFilter(redact)


def sdk_prints_response_bodies() -> bool:
    """True when the ``stripe`` SDK prints response bodies to stderr, around ``logging``.

    Mirrors ``stripe._util._console_log_level``: ``stripe.log`` if it is ``"debug"`` or
    ``"info"``, else the ``STRIPE_LOG`` environment variable; only ``"debug"`` prints bodies.
    """
    level = getattr(stripe, "log", None)
    if level not in ("debug", "info"):
        level = os.environ.get("STRIPE_LOG")
    return level == "debug"
