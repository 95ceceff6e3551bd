"""Custom cancellation reasons (``billing.feedback_option``) and their descriptions.

A configuration lists its ``feedback_options`` as ids unless the request expands
them. Stripe allows four levels of expansion, so a list of configurations cannot
expand them (``data.`` is a fifth); ``sync_portal_configs`` retrieves each
configuration that has options once more, expanded, and stores that. Reports then
read the descriptions from the stored ``stripe_data``: never a Stripe call per
webhook or per page view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django_stripe_portal.models import PortalConfiguration

#: The ``expand[]`` path of a configuration's feedback options (retrieve, create, update).
FEEDBACK_OPTIONS_EXPAND = "features.subscription_cancel.cancellation_reason.feedback_options"
_STORED_PATH = "stripe_data__" + FEEDBACK_OPTIONS_EXPAND.replace(".", "__")


def feedback_options_of(stripe_object: Mapping[str, Any]) -> list[Any]:
    """The configuration's ``feedback_options`` as Stripe sent them (ids or objects)."""
    node: Any = stripe_object
    for name in FEEDBACK_OPTIONS_EXPAND.split("."):
        node = node.get(name) if isinstance(node, Mapping) else None
    return list(node) if isinstance(node, list) else []


def needs_expanding(stripe_object: Mapping[str, Any]) -> bool:
    """Whether the object names feedback options by id only (their descriptions unknown)."""
    return any(isinstance(option, str) for option in feedback_options_of(stripe_object))


def descriptions_in(options: Iterable[Any]) -> dict[str, str]:
    """``{id: description}`` of the expanded options among ``options``."""
    found: dict[str, str] = {}
    for option in options:
        if isinstance(option, Mapping) and isinstance(option.get("id"), str):
            description = option.get("description")
            if isinstance(description, str) and description:
                found[option["id"]] = description
    return found


def feedback_option_descriptions() -> dict[str, str]:
    """``{bfo_…: description}`` from every synced configuration (one query, reading only
    that part of ``stripe_data``)."""
    found: dict[str, str] = {}
    for options in PortalConfiguration.objects.values_list(_STORED_PATH, flat=True):
        if isinstance(options, list):
            found.update(descriptions_in(options))
    return found
