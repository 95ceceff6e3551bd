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
