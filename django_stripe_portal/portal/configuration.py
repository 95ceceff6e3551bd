"""Which portal configuration a session uses: ``CONFIGURATION_RESOLVER``, then
``DEFAULT_CONFIGURATION``, then the account's Dashboard default.

A resolver is ``f(request, customer_id) -> key or None``; None means
``DEFAULT_CONFIGURATION``. ``payment_methods_only_for_several_subscriptions`` is a
ready-made one: copy it into your project when your rule differs.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest

from django_stripe_portal.access import active_subscriptions
from django_stripe_portal.conf import get_settings
from django_stripe_portal.models import PortalConfiguration
from django_stripe_portal.portal.accounts import resolve_account

logger = logging.getLogger("django_stripe_portal.portal")

#: The ``CONFIGURATIONS`` key ``payment_methods_only_for_several_subscriptions`` answers.
PAYMENT_METHODS_ONLY = "payment_methods_only"


def resolve_configuration(request: HttpRequest, customer_id: str) -> PortalConfiguration | None:
    """The synced configuration for this customer on the request's account (its own
    ``bpc_…`` there), or None for that account's default.

    A key that was never synced (for the current mode) is logged as an error and the
    session falls back to the default, so a deploy that forgot ``sync_portal_configs``
    does not break the billing button.
    """
    conf = get_settings()
    resolver = conf.imported("CONFIGURATION_RESOLVER")
    key = (resolver(request, customer_id) if resolver is not None else None) or (
        conf.DEFAULT_CONFIGURATION
    )
    if not key:
        return None
    account = resolve_account(request)
    configuration = (
        PortalConfiguration.objects.filter(
            key=key, livemode=conf.livemode, account=account, active=True
        )
        .only("pk", "key", "stripe_id")
        .first()
    )
    if configuration is None:
        logger.error(
            "Portal configuration %r has no synced %s-mode configuration on %s; "
            "run `manage.py sync_portal_configs%s`. This session uses the account's default "
            "configuration instead.",
            key,
            conf.mode_name,
            f"the connected account {account}" if account else "the platform",
            f" --account {account}" if account else "",
        )
    return configuration


def payment_methods_only_for_several_subscriptions(
    request: HttpRequest, customer_id: str
) -> str | None:
    """``"payment_methods_only"`` for a customer with two or more active subscriptions.

    Plan changes and cancellations in one portal are easy to get wrong when several
    subscriptions are listed side by side; such customers get a configuration that only
    updates payment methods and shows invoices, and manage plans with you. One query.
    """
    several = active_subscriptions(customer_id=customer_id, request=request).values_list(
        "pk", flat=True
    )[:2]
    return PAYMENT_METHODS_ONLY if len(several) > 1 else None
