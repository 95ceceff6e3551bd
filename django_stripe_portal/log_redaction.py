"""Keep portal session URLs out of logs, including the ``stripe`` SDK's own.

The SDK logs every response body at DEBUG; a portal session body carries the
session URL, which lets whoever holds it into the customer's billing account.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# "url": "…" inside a logged billing_portal.session body (quotes may be escaped by logfmt).
_SESSION_URL_FIELD_RE = re.compile(r'(url\\?"\s*:\s*\\?")[^"\\\s]+')
# A portal session link anywhere else: https://billing.stripe.com/p/session/…
_SESSION_LINK_RE = re.compile(r"https?://[^\s\"'\\]+/p/session/[^\s\"'\\]+")


def redact_portal_urls(text: str) -> str:
    """``text`` with every portal session URL replaced by ``[redacted]``."""
    if "billing_portal.session" in text:
        text = _SESSION_URL_FIELD_RE.sub(rf"\1{REDACTED}", text)
    return _SESSION_LINK_RE.sub(REDACTED, text)


class RedactPortalUrls(logging.Filter):
    """Rewrites a record's message so no portal session URL leaves the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_portal_urls(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install(logger_name: str = "stripe") -> None:
    """Attach the filter to ``logger_name`` once (called from ``AppConfig.ready``)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactPortalUrls) for existing in logger.filters):
        logger.addFilter(RedactPortalUrls())
