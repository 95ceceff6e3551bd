"""Public path of the ready-made ``CONFIGURATION_RESOLVER``; the code lives in
:mod:`django_stripe_portal.portal.configuration`."""

from django_stripe_portal.portal.configuration import (
    PAYMENT_METHODS_ONLY,
    payment_methods_only_for_several_subscriptions,
)

__all__ = ["PAYMENT_METHODS_ONLY", "payment_methods_only_for_several_subscriptions"]
