"""One no-op receiver on each of the app's signals: the cost of dispatch is timed,
not the work a host project would do."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from django_stripe_portal import signals


def _noop_receiver(sender: Any, **kwargs: Any) -> None:
    """Does nothing: a host project's receiver would do its own work here."""


def connect_noop_receivers() -> list[str]:
    """Connect ``_noop_receiver`` to every ``Signal`` defined in ``signals``; return their names."""
    names = []
    for name in dir(signals):
        value = getattr(signals, name)
        if isinstance(value, Signal):
            value.connect(_noop_receiver, dispatch_uid=f"bench-noop-{name}")
            names.append(name)
    return names
