"""What the app remembers of Stripe: customers, configurations, portal visits,
subscription state, active entitlements, connected accounts' authorization and webhook
events, one module a table.

Times named ``created_at`` / ``event_created_at`` are Stripe's (from the object
or event), not the time the row was written.
"""

from django_stripe_portal.models.account_authorizations import AccountAuthorization
from django_stripe_portal.models.activity_days import ActivityDay
from django_stripe_portal.models.configurations import PortalConfiguration
from django_stripe_portal.models.coupons import StripeCoupon
from django_stripe_portal.models.customers import StripeCustomer
from django_stripe_portal.models.discounts import StripeDiscount
from django_stripe_portal.models.entitlements import ActiveEntitlements
from django_stripe_portal.models.sessions import PortalSession
from django_stripe_portal.models.subscriptions import StripeSubscription
from django_stripe_portal.models.webhook_events import WebhookEvent

__all__ = [
    "AccountAuthorization",
    "ActiveEntitlements",
    "ActivityDay",
    "PortalConfiguration",
    "PortalSession",
    "StripeCoupon",
    "StripeCustomer",
    "StripeDiscount",
    "StripeSubscription",
    "WebhookEvent",
]
