"""The type of every ``STRIPE_PORTAL`` value that no other check looks at (numbers,
durations, lists of known values, optional strings), checked by ``manage.py check``.

A value read from the environment is a string: ``"300"`` for ``WEBHOOK_TOLERANCE``
would otherwise pass the checks and fail every delivery. Each message names the
setting, says what it holds and what it must hold; the hint shows the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage, Error

from django_stripe_portal.conf import SETTING_NAME, SUBSCRIPTION_STATUSES, PortalSettings

#: A value of the wrong type or out of range.
TYPE_CHECK_ID = "stripe_portal.E018"
#: ``ACTIVE_STATUSES`` is not a list of Stripe's subscription statuses.
STATUSES_CHECK_ID = "stripe_portal.E019"


@dataclass(frozen=True)
class _Number:
    """A number (never a bool, never a string); ``seconds``: a duration."""

    minimum: float
    integer: bool = True
    seconds: bool = False

    def problem(self, value: Any) -> str | None:
        kinds = (int,) if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"must be {'an integer' if self.integer else 'a number'}"
        if value < self.minimum:
            return f"must be at least {self.minimum:g}"
        return None

    def hint(self, name: str, default: Any) -> str:
        unit = " (seconds)" if self.seconds else ""
        return (
            f"Write a number{unit}, e.g. {name!r}: {default!r}; a value read from the "
            f"environment is a string: int(os.environ.get(...)) makes it one."
        )


@dataclass(frozen=True)
class _OptionalNumber:
    """None, or a number as :class:`_Number` checks it."""

    number: _Number

    def problem(self, value: Any) -> str | None:
        problem = None if value is None else self.number.problem(value)
        return None if problem is None else f"{problem}, or None"

    def hint(self, name: str, default: Any) -> str:
        return (
            f"Write a number of days, e.g. {name!r}: 400, or None to keep every payload; a "
            "value read from the environment is a string: int(os.environ.get(...)) makes it one."
        )


@dataclass(frozen=True)
class _OptionalText:
    def problem(self, value: Any) -> str | None:
        return None if value is None or isinstance(value, str) else "must be a string or None"

    def hint(self, name: str, default: Any) -> str:
        return f"Write a string, or None for the default ({default!r})."


@dataclass(frozen=True)
class _OptionalFlag:
    def problem(self, value: Any) -> str | None:
        return None if value is None or isinstance(value, bool) else "must be True, False or None"

    def hint(self, name: str, default: Any) -> str:
        return "Write True or False (a string such as 'false' is not read as False), or None."


@dataclass(frozen=True)
class _TextList:
    def problem(self, value: Any) -> str | None:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            return "must be a list of strings"
        if not all(isinstance(item, str) for item in value):
            return "must hold strings only"
        return None

    def hint(self, name: str, default: Any) -> str:
        return "Write a list, e.g. ['billing.example.com']; os.environ.get(...).split() makes one."


@dataclass(frozen=True)
class _Durations:
    def problem(self, value: Any) -> str | None:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            return "must be a non-empty list of numbers of seconds"
        if any(_Number(0, integer=False).problem(item) for item in value):
            return "must hold numbers of seconds (0 or more) only"
        return None

    def hint(self, name: str, default: Any) -> str:
        return f"Write a list of seconds, e.g. {list(default)!r}."


#: Each setting this module checks, and what it must hold.
SETTING_TYPES: dict[str, Any] = {
    "API_VERSION": _OptionalText(),
    "API_BASE": _OptionalText(),
    "LIVEMODE": _OptionalFlag(),
    "MAX_NETWORK_RETRIES": _Number(0),
    "API_TIMEOUT": _Number(0.001, integer=False, seconds=True),
    "ALLOWED_RETURN_HOSTS": _TextList(),
    "NO_CUSTOMER_URL": _OptionalText(),
    "RETURN_TOKEN_MAX_AGE": _Number(1, seconds=True),
    "RETENTION_COUPON": _OptionalText(),
    "WEBHOOK_TOLERANCE": _Number(1, seconds=True),
    "WEBHOOK_MAX_BODY_BYTES": _Number(1),
    "WEBHOOK_RETRY_DELAYS": _Durations(),
    "WEBHOOK_STUCK_AFTER": _Number(0, seconds=True),  # 0: take up every pending event
    "VISIT_WINDOW": _Number(1, seconds=True),
    "ENTITLEMENT_REQUIRED_URL": _OptionalText(),
    "EVENT_PAYLOAD_DAYS": _OptionalNumber(_Number(1)),
}


def check_setting_types(conf: PortalSettings, defaults: dict[str, Any]) -> Iterable[CheckMessage]:
    """One error for each value of :data:`SETTING_TYPES` that does not fit, and for
    ``ACTIVE_STATUSES``."""
    for name, kind in SETTING_TYPES.items():
        value = getattr(conf, name)
        problem = kind.problem(value)
        if problem is not None:
            yield Error(
                f"{SETTING_NAME}[{name!r}] = {value!r} ({type(value).__name__}) {problem}.",
                hint=kind.hint(name, defaults[name]),
                id=TYPE_CHECK_ID,
            )
    yield from _check_active_statuses(conf.ACTIVE_STATUSES)


def _check_active_statuses(value: Any) -> Iterable[CheckMessage]:
    """A string (``"active"``, or ``("active")`` which is one too) would be read letter by
    letter, and a typo matches no subscription: either way every customer loses access."""
    known = ", ".join(repr(status) for status in SUBSCRIPTION_STATUSES)
    hint = f"Write a list, e.g. ['active', 'trialing'] (Stripe's statuses: {known})."
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        yield Error(
            f"{SETTING_NAME}['ACTIVE_STATUSES'] = {value!r} is not a list of subscription "
            "statuses"
            + (
                " (a string: ('active') is a string, ('active',) a tuple)."
                if isinstance(value, str)
                else "."
            ),
            hint=hint,
            id=STATUSES_CHECK_ID,
        )
        return
    unknown = [status for status in value if status not in SUBSCRIPTION_STATUSES]
    if unknown or not value:
        what = (
            f"names {', '.join(map(repr, unknown))}, which {'is' if len(unknown) == 1 else 'are'} "
            "not Stripe's subscription status"
            if unknown
            else "is empty: no subscription would grant access"
        )
        yield Error(f"{SETTING_NAME}['ACTIVE_STATUSES'] {what}.", hint=hint, id=STATUSES_CHECK_ID)
