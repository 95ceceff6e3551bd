"""Read a request body the way Stripe's API reads it, for test doubles of Stripe.

The stripe library sends form encoding (``features[subscription_cancel][enabled]=true``,
``items[0][price]=…``); a double has to turn that back into the nested, typed params
Stripe sees. One decoder for the package's test double and the demo's stand-in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from django_stripe_portal.configurations import schema

_SEGMENT = re.compile(r"\[([^\]]*)\]")


def decode_form(body: str) -> dict[str, Any]:
    """Nested dicts for ``a[b][c]=v``; lists for ``a[0]=…`` and ``a[]=…``.

    Values stay strings: what a string means ("true", "12", "") depends on the
    parameter (see ``configuration_params`` for the configuration endpoints).
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *_SEGMENT.findall(key[len(head) :])]
        node = root
        for segment in path[:-1]:
            name = segment or str(len(node))  # "a[][b]": a new element
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        node[path[-1] or str(len(node))] = value
    decoded: dict[str, Any] = _lists_from_index_dicts(root)
    return decoded


def configuration_params(decoded: Mapping[str, Any], *, update: bool) -> dict[str, Any]:
    """Decoded form strings of a configuration create/update as the types Stripe reads.

    ``"true"`` → ``True`` and ``"12"`` → ``12`` where the parameter is a boolean or an
    integer; ``""`` stays ``""`` (it unsets the value).
    """
    rule = schema.update_rule() if update else schema.create_rule()
    typed: dict[str, Any] = _typed(rule, dict(decoded))
    return typed


def _typed(rule: Any, value: Any) -> Any:
    if rule is None or value == "":
        return value
    if rule.kind == "object" and isinstance(value, dict):
        return {name: _typed(rule.fields.get(name), item) for name, item in value.items()}
    if rule.kind == "list" and isinstance(value, dict):
        value = [value[index] for index in sorted(value, key=int)]
    if rule.kind == "list" and isinstance(value, list):
        return [_typed(rule.item, item) for item in value]
    if rule.kind == "map" and isinstance(value, list):
        # A map whose keys happen to be "0", "1" …: the decoder took it for a list.
        return {str(index): item for index, item in enumerate(value)}
    if rule.kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    if rule.kind == "integer" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _lists_from_index_dicts(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {key: _lists_from_index_dicts(item) for key, item in value.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return value
