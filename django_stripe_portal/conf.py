"""The one settings object: ``STRIPE_PORTAL`` merged over the defaults.

Read lazily (never at import time) and rebuilt on ``setting_changed`` so that
``override_settings(STRIPE_PORTAL=…)`` just works in tests.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import cache
from typing import Any, cast

import stripe
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

SETTING_NAME = "STRIPE_PORTAL"

DEFAULTS: dict[str, Any] = {
    # --- the keys named in DESIGN.md ---
    "API_KEY": None,
    "WEBHOOK_SECRETS": [],
    "API_VERSION": None,  # None: the version the installed stripe package pins
    "API_BASE": None,  # None: Stripe's own address
    "CONFIGURATIONS": {},
    "DEFAULT_CONFIGURATION": None,
    "CUSTOMER_RESOLVER": "django_stripe_portal.customers.linked_customer",
    "CONFIGURATION_RESOLVER": None,
    "RETURN_URL": "/",
    "ALLOWED_RETURN_HOSTS": [],
    "PORTAL_GUARD": None,
    "NO_CUSTOMER_URL": None,
    "WEBHOOK_TOLERANCE": 300,
    "WEBHOOK_PROCESSING": "sync",
    "LIVEMODE": None,  # None: derived from API_KEY
    # --- extensions ---
    # Retries of idempotent-safe Stripe requests (the SDK adds idempotency keys).
    "MAX_NETWORK_RETRIES": 2,
    # Seconds a Stripe request may take before the button gives up.
    "API_TIMEOUT": 20,
    # Webhook bodies larger than this are refused before any parsing.
    "WEBHOOK_MAX_BODY_BYTES": 1024 * 1024,
    # A change event counts towards a portal visit up to this many seconds after it began
    # (or until the user came back, whichever is first).
    "VISIT_WINDOW": 3600,
    # How long the signed return link stays valid, in seconds.
    "RETURN_TOKEN_MAX_AGE": 7 * 24 * 3600,
    # Subscription statuses that count as "active" for the access helpers.
    "ACTIVE_STATUSES": ["active", "trialing"],
    # A coupon offered in the subscription_cancel flow (Stripe's retention offer), or None.
    "RETENTION_COUPON": None,
    # Per-status redirects used by django_stripe_portal.guards.subscription_states.
    "GUARD_URLS": {},
}

# Keys whose value is a dotted path to a callable, imported on first use.
IMPORT_STRINGS = ("CUSTOMER_RESOLVER", "CONFIGURATION_RESOLVER", "PORTAL_GUARD")

WEBHOOK_PROCESSING_MODES = ("sync", "task")
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


class PortalSettings:
    """Attribute access to the merged settings, e.g. ``portal_settings.API_KEY``."""

    def __init__(self, user_settings: dict[str, Any]) -> None:
        unknown = sorted(set(user_settings) - set(DEFAULTS))
        if unknown:
            raise ImproperlyConfigured(unknown_keys_message(unknown))
        self._values: dict[str, Any] = {**DEFAULTS, **user_settings}
        self._imported: dict[str, Callable[..., Any] | None] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"{SETTING_NAME} has no setting {name!r}") from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    @property
    def api_version(self) -> str:
        """The ``Stripe-Version`` sent on every call and expected on webhooks."""
        return cast(str, self._values["API_VERSION"] or stripe.api_version)

    @property
    def livemode(self) -> bool:
        """Which Stripe mode this site acts in; events of the other mode are refused."""
        explicit = self._values["LIVEMODE"]
        if explicit is not None:
            return bool(explicit)
        key = self._values["API_KEY"] or ""
        return key.startswith(LIVE_KEY_PREFIXES)

    @property
    def mode_name(self) -> str:
        return "live" if self.livemode else "test"

    def require_api_key(self) -> str:
        key = self._values["API_KEY"]
        if not key:
            raise ImproperlyConfigured(
                f"You must set {SETTING_NAME}['API_KEY'] to a Stripe secret key "
                "(sk_test_…, sk_live_…) or restricted key (rk_…)."
            )
        return cast(str, key)

    def imported(self, name: str) -> Callable[..., Any] | None:
        """The callable named by a dotted-path setting (``CUSTOMER_RESOLVER`` …), or None."""
        if name not in IMPORT_STRINGS:
            raise KeyError(name)
        if name not in self._imported:
            path = self._values[name]
            if path is None:
                self._imported[name] = None
            elif callable(path):
                self._imported[name] = path
            else:
                try:
                    self._imported[name] = import_string(path)
                except ImportError as exc:
                    raise ImproperlyConfigured(
                        f"{SETTING_NAME}['{name}'] = {path!r} cannot be imported: {exc}"
                    ) from exc
        return self._imported[name]


def unknown_keys_message(unknown: list[str]) -> str:
    parts = []
    for key in unknown:
        hint = difflib.get_close_matches(key, DEFAULTS, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return (
        f"Unknown key(s) in {SETTING_NAME}: {', '.join(parts)}. "
        f"Known keys: {', '.join(sorted(DEFAULTS))}."
    )


@cache
def get_settings() -> PortalSettings:
    """The current settings, built once and rebuilt after ``setting_changed``."""
    user_settings = getattr(django_settings, SETTING_NAME, {}) or {}
    if not isinstance(user_settings, dict):
        raise ImproperlyConfigured(f"{SETTING_NAME} must be a dict, not {type(user_settings)}.")
    return PortalSettings(user_settings)


class _LazySettings:
    """Module-level handle that always reads the current settings."""

    def __getattr__(self, name: str) -> Any:
        return getattr(get_settings(), name)


portal_settings: Any = _LazySettings()


@receiver(setting_changed)
def _reload_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "DEBUG"):
        get_settings.cache_clear()
        from django_stripe_portal import client

        client.get_client.cache_clear()
