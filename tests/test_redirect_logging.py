"""Portal session URLs never reach a log record, whatever shape the SDK logs them in."""

from __future__ import annotations

import json
import logging

import pytest
from stripe._util import logfmt

from django_stripe_portal.log_redaction import REDACTED, RedactPortalUrls, redact_portal_urls

URL = "https://billing.stripe.com/p/session/test_YWNjdF8xTXo0ZDJ"
CUSTOM_DOMAIN_URL = "https://billing.example.com/session/live_abc123"


@pytest.mark.parametrize("indent", [None, 2])
def test_sdk_response_body_line(indent: int | None) -> None:
    body = json.dumps(
        {"id": "bps_1", "object": "billing_portal.session", "url": CUSTOM_DOMAIN_URL},
        indent=indent,
    )
    line = logfmt({"message": "API response body", "body": body})

    redacted = redact_portal_urls(line)

    assert CUSTOM_DOMAIN_URL not in redacted
    assert REDACTED in redacted
    assert "bps_1" in redacted


def test_body_with_a_quote_is_escaped_by_repr_and_still_redacted() -> None:
    body = json.dumps(
        {"object": "billing_portal.session", "return_url": "https://a/it's", "url": URL}, indent=2
    )
    line = logfmt({"message": "API response body", "body": body})

    assert URL not in redact_portal_urls(line)


def test_session_link_anywhere() -> None:
    assert redact_portal_urls(f"opening {URL} now") == f"opening {REDACTED} now"


def test_other_urls_are_left_alone() -> None:
    line = 'body={"object": "customer", "url": "/v1/customers/cus_1/sources"}'
    assert redact_portal_urls(line) == line


def test_filter_rewrites_args_too() -> None:
    record = logging.LogRecord("stripe", logging.DEBUG, __file__, 1, "got %s", (URL,), None)

    assert RedactPortalUrls().filter(record) is True
    assert URL not in record.getMessage()


def test_filter_is_installed_on_the_stripe_logger() -> None:
    filters = logging.getLogger("stripe").filters
    assert sum(isinstance(f, RedactPortalUrls) for f in filters) == 1
