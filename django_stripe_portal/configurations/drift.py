"""Does a configuration Stripe reports still match what settings declare?

Called from the ``billing_portal.configuration.updated`` webhook handler, so it
makes no API call: it compares the object in the event with the declaration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_stripe_portal.configurations.declare import declared_body, marker_of
from django_stripe_portal.configurations.diff import compare


def configuration_drifted(stripe_object: Mapping[str, Any]) -> bool:
    """True when a configuration this app created no longer matches its declaration.

    False for configurations the app did not create and for keys no longer declared
    (those are ``--prune``'s business, not drift).
    """
    key = marker_of(stripe_object)
    if key is None:
        return False
    body = declared_body(key)
    if body is None:
        return False
    return bool(compare(body, stripe_object))
