"""Stripe's API schema from ../shared/stripe-openapi, for contract tests.

Tests that use it are skipped where that folder is absent (a host project's
checkout of this package, say); CI always has it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

OPENAPI_DIR = Path(
    os.environ.get(
        "STRIPE_OPENAPI_DIR",
        Path(__file__).resolve().parent.parent.parent / "shared" / "stripe-openapi",
    )
)


def available() -> bool:
    return (OPENAPI_DIR / "validate.py").is_file()


requires_openapi = pytest.mark.skipif(not available(), reason=f"{OPENAPI_DIR} is absent")


@cache
def validator() -> ModuleType:
    """The shared ``validate`` module (skips the calling test where it is absent)."""
    if not available():
        pytest.skip(f"{OPENAPI_DIR} is absent")
    spec = importlib.util.spec_from_file_location(
        "stripe_openapi_validate", OPENAPI_DIR / "validate.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validate_request(method: str, url: str, body: str | bytes | None) -> dict[str, Any]:
    """Check one captured request (e.g. ``responses.calls[i].request``) against the spec."""
    v = validator()
    params = v.decode_form(body or "")
    if method.upper() == "GET" and "?" in url:
        params = {**v.decode_form(url.split("?", 1)[1]), **params}
    return v.validate_request(method, url, params)  # type: ignore[no-any-return]


def validate_object(schema_name: str, obj: dict[str, Any], **kwargs: Any) -> None:
    validator().validate_object(schema_name, obj, **kwargs)


@cache
def fixtures() -> dict[str, Any]:
    """Stripe's example objects (``resources``) and event bodies (``constructed``)."""
    if not available():
        pytest.skip(f"{OPENAPI_DIR} is absent")
    return json.loads((OPENAPI_DIR / "fixtures.json").read_text())  # type: ignore[no-any-return]


@cache
def event_types() -> list[str]:
    if not available():
        pytest.skip(f"{OPENAPI_DIR} is absent")
    return json.loads((OPENAPI_DIR / "events.json").read_text())["event_types"]  # type: ignore[no-any-return]


def misfits_of_event(event: dict[str, Any]) -> list[str]:
    """How a webhook event and its ``data.object`` depart from Stripe's schema ([] when they fit).

    The event schema leaves ``data.object`` untyped, so the object is checked against the
    schema its own ``object`` field names (``deleted_…`` for a deleted one).
    """
    v = validator()
    known = _schema_names()
    checks = [("event", event)]
    obj = event.get("data", {}).get("object")
    if isinstance(obj, dict):
        name = str(obj.get("object"))
        if obj.get("deleted") is True and f"deleted_{name}" in known:
            name = f"deleted_{name}"
        checks.append((name, obj))
    misfits = []
    for schema_name, value in checks:
        if schema_name not in known:
            misfits.append(f"{event.get('type')}: no schema {schema_name!r} to check it against")
            continue
        try:
            v.validate_object(schema_name, value)
        except v.StripeSchemaError as error:
            misfits.append(f"{event.get('type')} ({schema_name}): {error}")
    return misfits


@cache
def _schema_names() -> frozenset[str]:
    return frozenset(validator().schema_names())
