"""The event types this app acts on, and the kinds of change a portal visit can make.

``HANDLED_EVENTS`` is what ``setup_stripe_webhook`` subscribes the endpoint to
(``CONNECT_ENDPOINT_EVENTS`` the Connect endpoint);
every name is one of Stripe's (checked against the API's event list in tests).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)
CUSTOMER_EVENTS = (
    "customer.updated",
    "customer.tax_id.created",
    "customer.tax_id.updated",
    "customer.tax_id.deleted",
)
PAYMENT_METHOD_EVENTS = (
    "payment_method.attached",
    "payment_method.detached",
)
#: A coupon applied to (or removed from) a customer or subscription: how an accepted
#: retention offer shows (a subscription update's ``discounts`` holds only ``di_…`` ids).
DISCOUNT_EVENTS = (
    "customer.discount.created",
    "customer.discount.updated",
    "customer.discount.deleted",
)
#: A customer's active entitlements changed (Stripe Entitlements: access by feature).
ENTITLEMENT_EVENTS = ("entitlements.active_entitlement_summary.updated",)
#: A coupon's terms: what a discount that names its coupon by id takes off (run rate).
COUPON_EVENTS = (
    "coupon.created",
    "coupon.updated",
    "coupon.deleted",
)
PORTAL_EVENTS = (
    "billing_portal.session.created",
    "billing_portal.configuration.created",
    "billing_portal.configuration.updated",
)
HANDLED_EVENTS: tuple[str, ...] = (
    *PORTAL_EVENTS,
    *SUBSCRIPTION_EVENTS,
    *CUSTOMER_EVENTS,
    *PAYMENT_METHOD_EVENTS,
    *DISCOUNT_EVENTS,
    *ENTITLEMENT_EVENTS,
    *COUPON_EVENTS,
)
#: A connected account connecting to or disconnecting from the platform (Connect
#: endpoints only): see ``django_stripe_portal.state.accounts``.
ACCOUNT_APPLICATION_EVENTS = (
    "account.application.authorized",
    "account.application.deauthorized",
)
#: What ``setup_stripe_webhook --connect`` subscribes the Connect endpoint to.
CONNECT_ENDPOINT_EVENTS: tuple[str, ...] = (*HANDLED_EVENTS, *ACCOUNT_APPLICATION_EVENTS)


class ChangeKind(models.TextChoices):
    """What one event changed for the customer, stored on ``WebhookEvent.change_kind``
    by the dispatcher so that activity figures aggregate on a plain indexed column.
    When an event makes several changes, the first of this list that applies is kept."""

    CANCELED = "canceled", _("subscription canceled")
    CANCEL_SCHEDULED = "cancel_scheduled", _("cancellation scheduled")
    REACTIVATED = "reactivated", _("cancellation undone")
    PLAN_CHANGED = "plan_changed", _("plan changed")
    QUANTITY_CHANGED = "quantity_changed", _("quantity changed")
    PAUSED = "paused", _("subscription paused")
    RESUMED = "resumed", _("subscription resumed")
    #: The coupon of the visit's retention offer was applied (``customer.discount.created``).
    RETENTION_ACCEPTED = "retention_accepted", _("retention offer accepted")
    PAYMENT_METHOD_CHANGED = "payment_method_changed", _("payment method changed")
    CUSTOMER_DETAILS_CHANGED = "customer_details_changed", _("customer details changed")


#: Thin v1 subscription types (event destinations) with no snapshot twin of their own: each
#: is one aspect of a ``customer.subscription.updated``, and stands for that update. The
#: kind is what the type itself says changed, where its event carries no ``changes`` to
#: read it from (``None``: the status or a field no signal is about; the stored row and
#: the fetched subscription still say what changed).
THIN_SUBSCRIPTION_ASPECTS: dict[str, ChangeKind | None] = {
    "v1.customer.subscription.cancel_at_changed": ChangeKind.CANCEL_SCHEDULED,
    "v1.customer.subscription.item_price_changed": ChangeKind.PLAN_CHANGED,
    "v1.customer.subscription.item_quantity_changed": ChangeKind.QUANTITY_CHANGED,
    "v1.customer.subscription.item_added": None,
    "v1.customer.subscription.item_removed": None,
    "v1.customer.subscription.item_tax_rates_changed": None,
    "v1.customer.subscription.default_payment_method_changed": None,
    "v1.customer.subscription.active": None,
    "v1.customer.subscription.incomplete": None,
    "v1.customer.subscription.incomplete_expired": None,
    "v1.customer.subscription.past_due": None,
    "v1.customer.subscription.trialing": None,
    "v1.customer.subscription.unpaid": None,
}
#: The prefix Stripe gives the thin version of a v1 event type.
THIN_V1_PREFIX = "v1."
