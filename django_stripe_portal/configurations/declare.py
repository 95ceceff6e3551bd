"""What settings declare: the bodies under ``STRIPE_PORTAL['CONFIGURATIONS']``, their
hash, and the metadata marker that ties a Stripe configuration to its key."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django_stripe_portal.conf import get_settings

# Written into every configuration this app creates, so it can find them again
# (and never touch one it did not create).
MARKER_KEY = "django_stripe_portal_key"


def declared_configurations() -> dict[str, dict[str, Any]]:
    """Key → declared body, as settings hold them now ({} if the setting is ill-formed:
    system check E010 reports that)."""
    configurations = get_settings().CONFIGURATIONS
    return dict(configurations) if isinstance(configurations, Mapping) else {}


def declared_body(key: str) -> dict[str, Any] | None:
    body = declared_configurations().get(key)
    return body if isinstance(body, dict) else None


def definition_hash(body: Mapping[str, Any]) -> str:
    """A stable fingerprint of a declaration (key order does not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def marker_of(stripe_object: Mapping[str, Any]) -> str | None:
    """The declared key a Stripe configuration was created for, or None if not ours."""
    metadata = stripe_object.get("metadata") or {}
    value = metadata.get(MARKER_KEY) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None


def with_marker(key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The declared body plus this app's marker, as sent on create."""
    marked = copy.deepcopy(dict(body))
    metadata = dict(marked.get("metadata") or {})
    metadata[MARKER_KEY] = key
    marked["metadata"] = metadata
    return marked
