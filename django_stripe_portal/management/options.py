"""Option values as ``handle`` can rely on them, however the command was called.

``call_command("replay_stripe_events", status="failed")`` hands the string to
``handle`` as it is (Django runs argparse only on what it is given as arguments), so a
repeatable option (``action="append"``, ``nargs="+"``) may arrive as ``"failed"``
rather than ``["failed"]``, and ``choices`` are not checked at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.management.base import CommandError


def listed(value: str | Iterable[str] | None) -> list[str]:
    """A repeatable option's values: a list from the command line, a single string or a
    list from ``call_command``; ``[]`` when not given."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def checked_choices(option: str, values: list[str], choices: Sequence[str]) -> list[str]:
    """``values``, or a :class:`CommandError` naming the ones argparse would have refused."""
    unknown = [value for value in values if value not in choices]
    if unknown:
        raise CommandError(
            f"{option}: {', '.join(map(repr, unknown))} is not one of {', '.join(choices)}."
        )
    return values
