"""Stripe's form encoding (``features[subscription_cancel][enabled]=true``) to nested data."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_SEGMENT = re.compile(r"\[([^\]]*)\]")


def decode_form(body: str) -> dict[str, Any]:
    """Nested dicts for ``a[b][c]=v``; lists for ``a[0]=…`` and ``a[]=…``.

    Values stay strings: what a string means ("true", "12", "") depends on the
    parameter, so the endpoint converts them (see ``typed``).
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


def _lists_from_index_dicts(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {key: _lists_from_index_dicts(item) for key, item in value.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return value


def typed(value: Any) -> Any:
    """Form strings as JSON values: "true"/"false" → bool, "" → None (Stripe's "unset")."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if value == "true":
        return True
    if value == "false":
        return False
    if value == "":
        return None
    return value


def as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
