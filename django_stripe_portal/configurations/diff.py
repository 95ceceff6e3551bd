"""Compare a declared body with Stripe's configuration object.

Only what the declaration says is compared, plus the few defaults Stripe applies
to what it leaves out (a feature not declared is disabled), so that what Stripe
fills in by itself (``business_profile`` from the account, ``login_page.url``,
``features.*`` sub-settings of a disabled feature …) never looks like a change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django_stripe_portal.configurations.declare import MARKER_KEY
from django_stripe_portal.configurations.stripe_defaults import FEATURE_NAMES

# Stripe's value for a field the declaration leaves out, where leaving it out
# means "off". A declaration that drops one of these turns it off again.
UNDECLARED_DEFAULTS: dict[tuple[str, ...], Any] = {
    **{("features", name, "enabled"): False for name in FEATURE_NAMES},
    ("login_page", "enabled"): False,
}

_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    """One field whose Stripe value differs from the declared one."""

    path: tuple[str, ...]
    stripe_value: Any
    declared_value: Any

    @property
    def dotted_path(self) -> str:
        return ".".join(self.path)

    def describe(self) -> str:
        stripe_value = "(absent)" if self.stripe_value is _MISSING else repr(self.stripe_value)
        return f"{self.dotted_path}: {stripe_value} → {self.declared_value!r}"


def compare(
    declared: Mapping[str, Any], stripe_object: Mapping[str, Any], *, key: str | None = None
) -> list[FieldChange]:
    """Every field where Stripe's object differs from the declaration.

    With ``key``, a missing or different metadata marker counts as a change too
    (a configuration found through the stored id gets its marker on the next update).
    """
    changes = list(_compare_mapping(declared, stripe_object, ()))
    changes += _compare_undeclared_defaults(declared, stripe_object)
    if stripe_object.get("active") is False:
        # Declared means in use: a deactivated (e.g. pruned, then declared again) one comes back.
        changes.append(FieldChange(("active",), False, True))
    if key is not None:
        marker_path = ("metadata", MARKER_KEY)
        actual = _get(stripe_object, marker_path)
        if actual != key:
            changes.append(FieldChange(marker_path, actual, key))
    return sorted(changes, key=lambda change: change.path)


def same_value(declared: Any, actual: Any) -> bool:
    """Whether Stripe's ``actual`` satisfies the declared value (declared keys only)."""
    if isinstance(declared, str) and declared == "":
        # "" unsets a value: Stripe then holds null or an empty list.
        return actual in (None, "", [], {}, _MISSING)
    if isinstance(declared, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(
            same_value(value, actual.get(name, _MISSING)) for name, value in declared.items()
        )
    if isinstance(declared, Sequence) and not isinstance(declared, str):
        return _same_list(declared, actual)
    if isinstance(declared, bool) or isinstance(actual, bool):
        return type(declared) is type(actual) and declared == actual
    return bool(declared == actual)


def _same_list(declared: Sequence[Any], actual: Any) -> bool:
    if actual is None or actual is _MISSING:
        actual = []
    if not isinstance(actual, Sequence) or isinstance(actual, str):
        return False
    if len(declared) != len(actual):
        return False
    if all(not isinstance(item, Mapping) for item in declared):
        # Lists of enum values and ids: Stripe does not promise to keep the order. An id
        # may come back expanded (``feedback_options``): the object stands for its id.
        actual = [_expanded_id(item) for item in actual]
        return sorted(map(repr, declared)) == sorted(map(repr, actual))
    unmatched = list(actual)
    for item in declared:
        match = next((candidate for candidate in unmatched if same_value(item, candidate)), None)
        if match is None:
            return False
        unmatched.remove(match)
    return True


def _expanded_id(item: Any) -> Any:
    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
        return item["id"]
    return item


def _compare_mapping(
    declared: Mapping[str, Any], actual: Any, path: tuple[str, ...]
) -> Iterator[FieldChange]:
    actual_mapping: Mapping[str, Any] = actual if isinstance(actual, Mapping) else {}
    for name, value in declared.items():
        here = (*path, name)
        actual_value = actual_mapping.get(name, _MISSING)
        if path == ("metadata",):
            # Stripe drops a metadata key set to "" and stores every value as a string.
            if not same_value(value, actual_value) and not (
                isinstance(actual_value, str) and actual_value == str(value)
            ):
                yield FieldChange(here, actual_value, value)
            continue
        if isinstance(value, Mapping) and value:
            if _disabled_on_both_sides(value, actual_value):
                continue
            yield from _compare_mapping(value, actual_value, here)
        elif not same_value(value, actual_value):
            yield FieldChange(here, actual_value, value)


def _disabled_on_both_sides(declared: Mapping[str, Any], actual: Any) -> bool:
    """A feature that is off on both sides: its other settings do not matter."""
    return (
        declared.get("enabled") is False
        and isinstance(actual, Mapping)
        and actual.get("enabled") is False
    )


def _compare_undeclared_defaults(
    declared: Mapping[str, Any], stripe_object: Mapping[str, Any]
) -> Iterator[FieldChange]:
    for path, default in UNDECLARED_DEFAULTS.items():
        if _get(declared, path) is not _MISSING:
            continue
        actual = _get(stripe_object, path)
        if actual is not _MISSING and not same_value(default, actual):
            yield FieldChange(path, actual, default)


def _get(data: Any, path: Sequence[str]) -> Any:
    for name in path:
        if not isinstance(data, Mapping) or name not in data:
            return _MISSING
        data = data[name]
    return data
