"""Public path of the ready-made ``PORTAL_GUARD``; the code lives in
:mod:`django_stripe_portal.portal.guards`."""

from django_stripe_portal.portal.guards import GUARD_KEYS, subscription_states

__all__ = ["GUARD_KEYS", "subscription_states"]
