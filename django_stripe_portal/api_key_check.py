"""The API key's system check (E002): missing, a documentation placeholder, or not a
secret key; and ``api_key_not_needed``, under which the commands that read only the
database run their checks (a monitor's cron often has no Stripe key)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Warning

from django_stripe_portal.conf import LIVE_KEY_PREFIXES, SETTING_NAME, PortalSettings

API_KEY_RE = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]+$")
#: True while a command that reads only the database runs its checks: no API key needed.
_API_KEY_NOT_NEEDED: ContextVar[bool] = ContextVar(
    "stripe_portal_api_key_not_needed", default=False
)
#: What a documentation example writes where the key goes.
_PLACEHOLDER_KEY_RE = re.compile(r"^(sk|rk)_(test|live)_(\.\.\.|…|x{3,}|X{3,}|<.*>|your.*)$")


@contextmanager
def api_key_not_needed() -> Iterator[None]:
    """Checks run inside skip "API_KEY is not set" (a wrong key is still reported)."""
    token = _API_KEY_NOT_NEEDED.set(True)
    try:
        yield
    finally:
        _API_KEY_NOT_NEEDED.reset(token)


def check_api_key(conf: PortalSettings) -> Iterable[CheckMessage]:
    key = conf.API_KEY
    if not key and _API_KEY_NOT_NEEDED.get():
        return
    if not key:
        yield Error(
            f"{SETTING_NAME}['API_KEY'] is not set.",
            id="stripe_portal.E002",
            hint="Set it to your Stripe secret key, e.g. os.environ.get('STRIPE_SECRET_KEY') "
            "with STRIPE_SECRET_KEY=sk_test_… in the environment.",
        )
        return
    if isinstance(key, str) and _PLACEHOLDER_KEY_RE.match(key.strip()):
        yield Error(
            f"{SETTING_NAME}['API_KEY'] is the placeholder {key!r}, not a key.",
            id="stripe_portal.E002",
            hint="Replace the placeholder with your own key: Dashboard → Developers → "
            "API keys, the secret key (sk_test_ followed by letters and digits in test mode).",
        )
        return
    if not isinstance(key, str) or not API_KEY_RE.match(key):
        yield Error(
            f"{SETTING_NAME}['API_KEY'] does not look like a Stripe secret key.",
            id="stripe_portal.E002",
            hint="Use a key that starts with sk_test_, sk_live_, rk_test_ or rk_live_ "
            "(a publishable pk_… key cannot create portal sessions).",
        )
        return
    if key.startswith(LIVE_KEY_PREFIXES) and django_settings.DEBUG:
        yield Warning(
            f"{SETTING_NAME}['API_KEY'] is a live-mode key while DEBUG is True.",
            id="stripe_portal.W003",
            hint="Use a test-mode key (sk_test_…) in development.",
        )
