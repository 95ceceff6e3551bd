"""The one settings object: ``STRIPE_PORTAL`` merged over the defaults.

Read lazily (never at import time) and rebuilt on ``setting_changed`` so that
``override_settings(STRIPE_PORTAL=…)`` just works in tests. Every key is a typed
attribute of :class:`PortalSettings`; ``manage.py check`` validates the values.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import cache
from typing import Any

import stripe
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

SETTING_NAME = "STRIPE_PORTAL"

#: Seconds between task-mode attempts after a failure: about three days in all, like
#: Stripe's own retries of a failed delivery.
DEFAULT_RETRY_DELAYS = (60, 300, 1800, 7200, 21600, 43200, 86400, 100800)

DEFAULTS: dict[str, Any] = {
    # --- Stripe connection ---
    "API_KEY": None,
    "API_VERSION": None,  # None: the version the installed stripe package pins
    "API_BASE": None,  # None: Stripe's own address
    "LIVEMODE": None,  # None: derived from API_KEY
    # Retries of failed requests (the SDK adds idempotency keys).
    "MAX_NETWORK_RETRIES": 2,
    # Seconds a Stripe request may take before the button gives up.
    "API_TIMEOUT": 20,
    # --- portal sessions (the button) ---
    "CONFIGURATIONS": {},
    "DEFAULT_CONFIGURATION": None,
    "CUSTOMER_RESOLVER": "django_stripe_portal.customers.linked_customer",
    "CONFIGURATION_RESOLVER": None,
    "RETURN_URL": "/",
    "ALLOWED_RETURN_HOSTS": [],
    "PORTAL_GUARD": None,
    "NO_CUSTOMER_URL": None,
    # Stripe's session after_expiration body, sent on every session (None: Stripe's default).
    "SESSION_AFTER_EXPIRATION": None,
    # Sent as Stripe-Context (organization API keys); CONTEXT_RESOLVER: f(request) -> str.
    "STRIPE_CONTEXT": None,
    "CONTEXT_RESOLVER": None,
    # How long the signed return link stays valid, in seconds.
    "RETURN_TOKEN_MAX_AGE": 7 * 24 * 3600,
    # A coupon offered in the subscription_cancel flow (Stripe's retention offer), or None.
    "RETENTION_COUPON": None,
    # f(request, customer_id, subscription_id) -> coupon id or None; RETENTION_COUPON otherwise.
    "RETENTION_RESOLVER": None,
    # Per-status redirects used by django_stripe_portal.guards.subscription_states.
    "GUARD_URLS": {},
    # --- Connect ---
    "ACCOUNT_RESOLVER": None,
    "ON_BEHALF_OF_RESOLVER": None,
    "CONNECT_WEBHOOK_SECRETS": [],
    "CONNECTED_ACCOUNTS": None,
    # --- webhooks ---
    "WEBHOOK_SECRETS": [],
    # Signing secrets of the event destination (thin events) behind stripe_portal:events.
    "EVENT_DESTINATION_SECRETS": [],
    "WEBHOOK_TOLERANCE": 300,
    "WEBHOOK_PROCESSING": "sync",
    # Webhook bodies larger than this are refused before any parsing.
    "WEBHOOK_MAX_BODY_BYTES": 1024 * 1024,
    "WEBHOOK_RETRY_DELAYS": list(DEFAULT_RETRY_DELAYS),
    # Seconds after which a pending event no worker holds is taken up again.
    "WEBHOOK_STUCK_AFTER": 600,
    # prune_stripe_events empties the payloads of finished events older than this many days
    # (None: keep every payload).
    "EVENT_PAYLOAD_DAYS": None,
    # --- access and activity ---
    # Subscription statuses that count as "active" for the access helpers.
    "ACTIVE_STATUSES": ["active", "trialing"],
    # Where entitlement_required sends a signed-in user without the feature (None: 403).
    "ENTITLEMENT_REQUIRED_URL": None,
    # A change event counts towards a portal visit up to this many seconds after it began
    # (or until the user came back, whichever is first).
    "VISIT_WINDOW": 3600,
    # f(user) -> str: how a person is named wherever the app shows a customer (None: the
    # user's full name, else email, else username).
    "CUSTOMER_LABEL": None,
}

# Keys whose value is a dotted path to a callable, imported on first use.
IMPORT_STRINGS = (
    "CUSTOMER_RESOLVER",
    "CONFIGURATION_RESOLVER",
    "PORTAL_GUARD",
    "RETENTION_RESOLVER",
    "ACCOUNT_RESOLVER",
    "ON_BEHALF_OF_RESOLVER",
    "CONNECTED_ACCOUNTS",
    "CUSTOMER_LABEL",
    "CONTEXT_RESOLVER",
)

WEBHOOK_PROCESSING_MODES = ("sync", "task")
#: Stripe's subscription statuses: what ``ACTIVE_STATUSES`` may name.
SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


class PortalSettings:
    """The merged settings as typed attributes, e.g. ``get_settings().API_KEY``.

    The types say what a valid setting holds; ``manage.py check`` reports values that
    do not fit, so code reading them can rely on the types.
    """

    API_KEY: str | None
    API_VERSION: str | None
    API_BASE: str | None
    LIVEMODE: bool | None
    MAX_NETWORK_RETRIES: int
    API_TIMEOUT: float
    CONFIGURATIONS: dict[str, dict[str, Any]]
    DEFAULT_CONFIGURATION: str | None
    CUSTOMER_RESOLVER: str | Callable[..., Any] | None
    CONFIGURATION_RESOLVER: str | Callable[..., Any] | None
    RETURN_URL: str
    ALLOWED_RETURN_HOSTS: list[str]
    PORTAL_GUARD: str | Callable[..., Any] | None
    NO_CUSTOMER_URL: str | None
    SESSION_AFTER_EXPIRATION: dict[str, Any] | None
    STRIPE_CONTEXT: str | None
    CONTEXT_RESOLVER: str | Callable[..., Any] | None
    RETURN_TOKEN_MAX_AGE: int
    RETENTION_COUPON: str | None
    RETENTION_RESOLVER: str | Callable[..., Any] | None
    GUARD_URLS: dict[str, str]
    ACCOUNT_RESOLVER: str | Callable[..., Any] | None
    ON_BEHALF_OF_RESOLVER: str | Callable[..., Any] | None
    CONNECT_WEBHOOK_SECRETS: list[str]
    CONNECTED_ACCOUNTS: str | Callable[..., Any] | None
    WEBHOOK_SECRETS: list[str]
    EVENT_DESTINATION_SECRETS: list[str]
    WEBHOOK_TOLERANCE: int
    WEBHOOK_PROCESSING: str
    WEBHOOK_MAX_BODY_BYTES: int
    WEBHOOK_RETRY_DELAYS: list[int]
    WEBHOOK_STUCK_AFTER: int
    EVENT_PAYLOAD_DAYS: int | None
    ACTIVE_STATUSES: list[str]
    ENTITLEMENT_REQUIRED_URL: str | None
    VISIT_WINDOW: int
    CUSTOMER_LABEL: str | Callable[..., Any] | None

    def __init__(self, user_settings: dict[str, Any], *, ignore_unknown: bool = False) -> None:
        """``ignore_unknown``: for the system checks, which report unknown keys (E001)
        and still check every known one."""
        unknown = unknown_keys(user_settings)
        if unknown and not ignore_unknown:
            raise ImproperlyConfigured(unknown_keys_message(unknown))
        for name, default in DEFAULTS.items():
            setattr(self, name, user_settings.get(name, default))
        self._imported: dict[str, Callable[..., Any] | None] = {}

    @property
    def api_version(self) -> str:
        """The ``Stripe-Version`` sent on every call and expected on webhooks."""
        return self.API_VERSION or str(stripe.api_version)

    @property
    def livemode(self) -> bool:
        """Which Stripe mode this site acts in; events of the other mode are refused."""
        if self.LIVEMODE is not None:
            return bool(self.LIVEMODE)
        return (self.API_KEY or "").startswith(LIVE_KEY_PREFIXES)

    @property
    def webhook_tolerance(self) -> float:
        """``WEBHOOK_TOLERANCE`` as a number, even when it is not one: a number written as a
        string (``"300"``, read from the environment) is read as that number, anything else
        as the default. ``manage.py check`` reports either (E018); a delivery must not
        fail, for three days of Stripe's retries, over it."""
        value: Any = self.WEBHOOK_TOLERANCE
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return value
        try:
            number = float(str(value).strip())
        except ValueError:
            number = 0.0
        return number if 0 < number < float("inf") else float(DEFAULTS["WEBHOOK_TOLERANCE"])

    @property
    def mode_name(self) -> str:
        return "live" if self.livemode else "test"

    def require_api_key(self) -> str:
        if not self.API_KEY:
            raise ImproperlyConfigured(
                f"You must set {SETTING_NAME}['API_KEY'] to a Stripe secret key "
                "(sk_test_…, sk_live_…) or restricted key (rk_…)."
            )
        return self.API_KEY

    def imported(self, name: str) -> Callable[..., Any] | None:
        """The callable named by a dotted-path setting (``CUSTOMER_RESOLVER`` …), or None."""
        if name not in IMPORT_STRINGS:
            raise KeyError(name)
        if name not in self._imported:
            path = getattr(self, name)
            if path is None:
                self._imported[name] = None
            elif callable(path):
                self._imported[name] = path
            elif not isinstance(path, str):
                raise ImproperlyConfigured(
                    f"{SETTING_NAME}['{name}'] = {path!r} is neither a dotted path "
                    "('myapp.billing.function') nor a callable."
                )
            else:
                try:
                    self._imported[name] = import_string(path)
                except ImportError as exc:
                    raise ImproperlyConfigured(
                        f"{SETTING_NAME}['{name}'] = {path!r} cannot be imported: {exc}"
                    ) from exc
        return self._imported[name]


def unknown_keys(user_settings: dict[str, Any]) -> list[str]:
    """The keys of ``user_settings`` this app does not know, sorted."""
    return sorted(set(user_settings) - set(DEFAULTS))


def unknown_keys_message(unknown: list[str]) -> str:
    parts = []
    for key in unknown:
        same_but_case = [known for known in DEFAULTS if known.lower() == str(key).lower()]
        hint = same_but_case or difflib.get_close_matches(str(key).upper(), DEFAULTS, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return (
        f"Unknown key(s) in {SETTING_NAME}: {', '.join(parts)}. "
        f"Known keys: {', '.join(sorted(DEFAULTS))}."
    )


def user_settings() -> dict[str, Any]:
    """``settings.STRIPE_PORTAL`` as written (``{}`` when absent)."""
    value = getattr(django_settings, SETTING_NAME, {}) or {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{SETTING_NAME} must be a dict, not {type(value)}.")
    return value


@cache
def get_settings() -> PortalSettings:
    """The current settings, built once and rebuilt after ``setting_changed``."""
    return PortalSettings(user_settings())


@receiver(setting_changed)
def _reload_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "DEBUG"):
        get_settings.cache_clear()
