"""The retention offer of a cancel flow: decided on the server, per customer.

``RETENTION_RESOLVER`` (``f(request, customer_id, subscription_id) -> coupon id or
None``) names the coupon; without it ``RETENTION_COUPON`` is the fixed default. The
form never names one: a coupon is money, and the form is the user's to write.
"""

from __future__ import annotations

import dataclasses

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from django_stripe_portal.conf import SETTING_NAME, get_settings
from django_stripe_portal.portal.accounts import resolve_account
from django_stripe_portal.portal.button_form import PortalFlow

#: ``PortalSession.retention_coupon`` keeps the offer; Stripe's coupon ids are shorter.
MAX_COUPON_ID_LENGTH = 255


def retention_coupon_for(request: HttpRequest, customer_id: str, subscription_id: str) -> str:
    """The coupon to offer this customer before they cancel ``subscription_id`` ("" for none)."""
    conf = get_settings()
    resolver = conf.imported("RETENTION_RESOLVER")
    if resolver is None:
        # A coupon lives on one Stripe account: the fixed one is the platform's. For a
        # connected account's customer, RETENTION_RESOLVER names that account's coupon.
        return (conf.RETENTION_COUPON or "") if not resolve_account(request) else ""
    coupon = resolver(request, customer_id, subscription_id)
    if coupon is None or coupon == "":
        return ""
    if not isinstance(coupon, str) or len(coupon) > MAX_COUPON_ID_LENGTH:
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['RETENTION_RESOLVER'] returned {coupon!r}; it must return a "
            f"Stripe coupon id (a string of at most {MAX_COUPON_ID_LENGTH} characters) or None."
        )
    return coupon


def with_retention_offer(flow: PortalFlow, request: HttpRequest, customer_id: str) -> PortalFlow:
    """``flow`` with Stripe's ``coupon_offer`` retention, for a cancel flow with an offer."""
    if flow.flow_type != "subscription_cancel":
        return flow
    coupon = retention_coupon_for(request, customer_id, flow.subscription_id)
    if not coupon:
        return flow
    flow_data = dict(flow.flow_data)
    flow_data["subscription_cancel"] = {
        **flow_data["subscription_cancel"],
        "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon}},
    }
    return dataclasses.replace(flow, flow_data=flow_data, retention_coupon=coupon)
