"""Offline validation of declared portal configurations.

The rules come from the installed ``stripe`` package's request TypedDicts, which
Stripe generates from its OpenAPI spec for the pinned API version: required keys,
enum values, types, and ``""`` where a value may be unset. The spec's ``maxLength``
limits are not in those types, so the few that apply are listed here as facts.
Shared by the system check (E010) and ``sync_portal_configs`` (before any API call).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import typing_extensions
from stripe import RequestOptions
from stripe.params.billing_portal import (
    ConfigurationCreateParams,
    ConfigurationUpdateParams,
    SessionCreateParamsAfterExpiration,
)

from django_stripe_portal.configurations.declare import MARKER_KEY

# maxLength of the billing_portal configuration request params (Stripe's OpenAPI spec,
# 2026-10-28.endive): the stripe library's types do not carry them.
MAX_LENGTHS: dict[str, int] = {
    "business_profile.headline": 60,
    "name": 256,
    "features.payment_method_update.payment_method_configuration": 5000,
    "features.subscription_cancel.cancellation_reason.feedback_options": 5000,
    "features.subscription_update.products.prices": 5000,
    "features.subscription_update.products.product": 5000,
}
# Request options in the SDK's params type, not parameters of the configuration.
_NOT_DECLARABLE = frozenset(RequestOptions.__annotations__) | {"expand"}

Kind = Literal["object", "list", "map", "string", "enum", "boolean", "integer"]


@dataclass
class _Rule:
    """What one parameter accepts."""

    kind: Kind
    unsettable: bool = False  # "" is accepted (it unsets the value)
    enum: tuple[str, ...] = ()
    fields: dict[str, _Rule] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    item: _Rule | None = None


@dataclass(frozen=True)
class ConfigurationError:
    """One thing Stripe would reject in a declared body, with the exact path."""

    key: str | None  # None: the setting as a whole
    path: str
    message: str

    def __str__(self) -> str:
        where = "CONFIGURATIONS" if self.key is None else f"CONFIGURATIONS[{self.key!r}]"
        return f"{where}{self.path}: {self.message}"


def validate_declaration(key: Any, body: Any) -> list[ConfigurationError]:
    """Everything in one declared body that ``POST /v1/billing_portal/configurations``
    would refuse (or that would break the sync), as errors naming the field path."""
    if not isinstance(key, str) or not key.strip():
        return [ConfigurationError(str(key), "", "the key must be a non-empty string")]
    if len(key) > 100:
        return [ConfigurationError(key, "", "the key must be at most 100 characters long")]
    if not isinstance(body, Mapping):
        return [ConfigurationError(key, "", f"must be a dict (the request body), not {body!r}")]
    errors = list(_check(create_rule(), body, key, ""))
    errors += documented_rule_errors(key, body)
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and MARKER_KEY in metadata:
        errors.append(
            ConfigurationError(
                key,
                f".metadata.{MARKER_KEY}",
                "is written by django-stripe-portal to recognise its configurations; "
                "remove it from the declaration",
            )
        )
    return errors


# Rules Stripe's spec states in its descriptions rather than in its types.
MAX_PRODUCTS = 10  # "The list of up to 10 products that support subscription updates."


def documented_rule_errors(key: str, body: Mapping[str, Any]) -> list[ConfigurationError]:
    """Breaches of the rules above in a body (or a configuration object: same shape)."""
    features = body.get("features")
    if not isinstance(features, Mapping):
        return []
    errors = []
    cancel = features.get("subscription_cancel")
    if isinstance(cancel, Mapping):
        path = ".features.subscription_cancel.proration_behavior"
        proration = cancel.get("proration_behavior")
        if proration == "always_invoice":
            errors.append(
                ConfigurationError(
                    key, path, "'always_invoice' is refused here; use 'none' or 'create_prorations'"
                )
            )
        elif proration == "create_prorations" and cancel.get("mode") != "immediately":
            errors.append(
                ConfigurationError(
                    key, path, "'create_prorations' needs mode 'immediately' (cancel at once)"
                )
            )
    pause = features.get("subscription_pause")
    duration = pause.get("duration") if isinstance(pause, Mapping) else None
    if (
        isinstance(duration, Mapping)
        and duration.get("type") == "interval_options"
        and not duration.get("interval_options")
    ):
        errors.append(
            ConfigurationError(
                key,
                ".features.subscription_pause.duration.interval_options",
                "is required when type is 'interval_options'",
            )
        )
    update = features.get("subscription_update")
    products = update.get("products") if isinstance(update, Mapping) else None
    if isinstance(products, list | tuple) and len(products) > MAX_PRODUCTS:
        errors.append(
            ConfigurationError(
                key,
                ".features.subscription_update.products",
                f"{len(products)} products; Stripe allows at most {MAX_PRODUCTS}",
            )
        )
    return errors


def validate_configurations(configurations: Any) -> list[ConfigurationError]:
    """Every error in ``STRIPE_PORTAL['CONFIGURATIONS']``."""
    if not isinstance(configurations, Mapping):
        return [
            ConfigurationError(None, "", f"must be a dict of key → body, not {configurations!r}")
        ]
    errors: list[ConfigurationError] = []
    for key, body in configurations.items():
        errors += validate_declaration(key, body)
    return errors


def validate_after_expiration(value: Any) -> list[str]:
    """Problems in ``SESSION_AFTER_EXPIRATION``: the ``after_expiration`` body of
    ``POST /v1/billing_portal/sessions``, by the same rules as a configuration."""
    return [f"{e.path}: {e.message}" for e in _check(_after_expiration_rule(), value, "", "")]


@cache
def _after_expiration_rule() -> _Rule:
    return _rule_of(SessionCreateParamsAfterExpiration)


def validate_create_params(params: Mapping[str, Any]) -> list[str]:
    """Problems in a body for ``POST /v1/billing_portal/configurations``."""
    return [f"{e.path}: {e.message}" for e in _check(create_rule(), params, "create", "")]


def validate_update_params(params: Mapping[str, Any]) -> list[str]:
    """Problems in a body for ``POST /v1/billing_portal/configurations/{id}`` (an app bug)."""
    return [f"{e.path}: {e.message}" for e in _check(update_rule(), params, "update", "")]


def wire_params(params: Mapping[str, Any], *, update: bool) -> dict[str, Any]:
    """``params`` as they must be handed to the stripe library.

    The library leaves empty lists out of the form body, so "no options" would
    silently keep Stripe's current list: where the API accepts ``""`` (unset),
    an empty list is sent as ``""`` instead.
    """
    rule = update_rule() if update else create_rule()
    return dict(_to_wire(rule, params))


def _to_wire(rule: _Rule | None, value: Any) -> Any:
    if isinstance(value, Mapping):
        fields = rule.fields if rule is not None and rule.kind == "object" else {}
        return {name: _to_wire(fields.get(name), item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        if not value and rule is not None and rule.unsettable:
            return ""
        item_rule = rule.item if rule is not None else None
        return [_to_wire(item_rule, item) for item in value]
    return value


def params_problems(params_type: Any, params: Mapping[str, Any]) -> list[str]:
    """Problems in ``params`` for any of the stripe library's request TypedDicts."""
    rule = _rule_of(params_type)
    return [f"{e.path}: {e.message}" for e in _check(rule, params, "params", "")]


@cache
def create_rule() -> _Rule:
    return _rule_of(ConfigurationCreateParams)


@cache
def update_rule() -> _Rule:
    return _rule_of(ConfigurationUpdateParams)


def _rule_of(hint: Any) -> _Rule:
    """Translate one SDK type annotation into a rule."""
    origin = typing.get_origin(hint)
    if origin in (typing.NotRequired, typing_extensions.NotRequired):
        return _rule_of(typing.get_args(hint)[0])
    if typing_extensions.is_typeddict(hint):
        return _object_rule(hint)
    if origin in (typing.Union, types.UnionType):
        return _union_rule(typing.get_args(hint))
    if origin is Literal:
        return _union_rule((hint,))
    if origin is list:
        return _Rule("list", item=_rule_of(typing.get_args(hint)[0]))
    if origin is dict:
        return _Rule("map", item=_rule_of(typing.get_args(hint)[1]))
    if hint is bool:
        return _Rule("boolean")
    if hint is int:
        return _Rule("integer")
    if hint is str:
        return _Rule("string")
    raise TypeError(f"django-stripe-portal cannot read the stripe type {hint!r}")


def _object_rule(typed_dict: Any) -> _Rule:
    own = {
        name: annotation
        for name, annotation in typed_dict.__annotations__.items()
        if name not in _NOT_DECLARABLE
    }
    # Evaluate the generated forward references in the module that defines them.
    holder = type("_Annotations", (), {"__annotations__": own, "__module__": typed_dict.__module__})
    hints = typing.get_type_hints(holder, include_extras=True)
    required = frozenset(
        name
        for name, hint in hints.items()
        if typing.get_origin(hint) not in (typing.NotRequired, typing_extensions.NotRequired)
    )
    return _Rule(
        "object",
        fields={name: _rule_of(hint) for name, hint in hints.items()},
        required=required,
    )


def _union_rule(options: tuple[Any, ...]) -> _Rule:
    literals: list[str] = []
    others: list[Any] = []
    for option in options:
        if typing.get_origin(option) is Literal:
            literals += typing.get_args(option)
        elif getattr(option, "__name__", "") == "UntypedStripeObject":
            continue  # the SDK's own object type; settings hold plain dicts
        else:
            others.append(option)
    unsettable = "" in literals
    enum = tuple(value for value in literals if value != "")
    if enum:
        # The SDK adds ``|str`` to stay open to new values; the API itself refuses them.
        return _Rule("enum", unsettable=unsettable, enum=enum)
    if len(others) != 1:
        raise TypeError(f"django-stripe-portal cannot read the stripe type Union{options!r}")
    rule = _rule_of(others[0])
    rule.unsettable = unsettable
    return rule


def _check(
    rule: _Rule, value: Any, key: str, path: str, *, required: bool = False
) -> Iterator[ConfigurationError]:
    if rule.unsettable and value == "":
        return
    if rule.kind == "object":
        yield from _check_object(rule, value, key, path)
    elif rule.kind in ("list", "map"):
        yield from _check_collection(rule, value, key, path, required=required)
    elif rule.kind == "enum":
        if value not in rule.enum:
            allowed = ", ".join(repr(option) for option in rule.enum)
            yield ConfigurationError(key, path, f"{value!r} is not one of {allowed}")
    elif rule.kind == "boolean":
        if not isinstance(value, bool):
            yield ConfigurationError(key, path, f"{value!r} is not a boolean (True or False)")
    elif rule.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            yield ConfigurationError(key, path, f"{value!r} is not an integer")
    elif not isinstance(value, str):
        yield ConfigurationError(key, path, f"{value!r} is not a string")
    else:
        limit = MAX_LENGTHS.get(_field_name(path))
        if limit is not None and len(value) > limit:
            yield ConfigurationError(
                key, path, f"{len(value)} characters; Stripe allows at most {limit}"
            )


def _check_object(rule: _Rule, value: Any, key: str, path: str) -> Iterator[ConfigurationError]:
    if not isinstance(value, Mapping):
        yield ConfigurationError(key, path, f"{value!r} is not a dict")
        return
    for name in sorted(rule.required - set(value)):
        yield ConfigurationError(key, f"{path}.{name}", "is required")
    for name, item in value.items():
        here = f"{path}.{name}"
        if name not in rule.fields:
            known = sorted(rule.fields)
            hint = difflib.get_close_matches(str(name), known, n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            yield ConfigurationError(
                key, here, f"unknown parameter ({suggestion}known: {', '.join(known)})"
            )
            continue
        yield from _check(rule.fields[name], item, key, here, required=name in rule.required)


def _check_collection(
    rule: _Rule, value: Any, key: str, path: str, *, required: bool = False
) -> Iterator[ConfigurationError]:
    assert rule.item is not None
    if rule.kind == "map":
        if not isinstance(value, Mapping):
            yield ConfigurationError(key, path, f"{value!r} is not a dict")
            return
        for name, item in value.items():
            if not isinstance(name, str):
                yield ConfigurationError(key, f"{path}[{name!r}]", "keys must be strings")
            yield from _check(rule.item, item, key, f"{path}.{name}")
        return
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        yield ConfigurationError(key, path, f"{value!r} is not a list")
        return
    if not value and not rule.unsettable and required:
        # The stripe library leaves an empty list out of the request: Stripe sees it missing.
        yield ConfigurationError(key, path, "must not be empty")
    for index, item in enumerate(value):
        yield from _check(rule.item, item, key, f"{path}[{index}]")


def _field_name(path: str) -> str:
    """``.features.x[0].y`` → ``features.x.y``, the form ``MAX_LENGTHS`` uses."""
    parts = []
    for part in path.split("."):
        parts.append(part.split("[", 1)[0])
    return ".".join(part for part in parts if part)
