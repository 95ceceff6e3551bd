"""Example ``CONFIGURATION_RESOLVER``s: which portal configuration a customer gets.

A resolver is ``f(request, customer_id) -> key or None``; None means
``DEFAULT_CONFIGURATION``. Copy one into your project when your rule differs.
"""

from __future__ import annotations

from django.http import HttpRequest

from django_stripe_portal.access import active_subscriptions

#: The ``CONFIGURATIONS`` key ``payment_methods_only_for_several_subscriptions`` answers.
PAYMENT_METHODS_ONLY = "payment_methods_only"


def payment_methods_only_for_several_subscriptions(
    request: HttpRequest, customer_id: str
) -> str | None:
    """``"payment_methods_only"`` for a customer with two or more active subscriptions.

    Plan changes and cancellations in one portal are easy to get wrong when several
    subscriptions are listed side by side; such customers get a configuration that only
    updates payment methods and shows invoices, and manage plans with you. One query.
    """
    several = active_subscriptions(customer_id=customer_id).values_list("pk", flat=True)[:2]
    return PAYMENT_METHODS_ONLY if len(several) > 1 else None
