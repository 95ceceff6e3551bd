"""Every exception the app raises on purpose, in one place.

Each carries what a person needs to act: a short ``reason`` safe to answer with and a
``detail`` for the log (webhooks), or a ``message`` for the user and a ``code`` for a
JSON client (the portal button).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation


class WebhookRefused(SuspiciousOperation):
    """A delivery answered 400: ``reason`` is short and safe to send back, ``detail`` is
    for the log. Neither ever holds the body or a secret."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


class PortalRequestError(Exception):
    """The button's form asked for something that cannot be done; ``message`` is for the user."""

    def __init__(self, message: Any, *, code: str, status: int = 400) -> None:
        super().__init__(str(message))
        self.message = str(message)
        self.code = code
        self.status = status


class EventBusy(Exception):
    """Another delivery, task or replay holds the event's lock right now."""


class AccountResolverError(ImproperlyConfigured):
    """``ACCOUNT_RESOLVER`` or ``ON_BEHALF_OF_RESOLVER`` answered something that is not an
    account id: a bug in the host project, reported before any request is sent."""

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting
