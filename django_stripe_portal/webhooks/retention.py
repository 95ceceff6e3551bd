"""Is a new discount an accepted retention offer?

Read from the payloads alone: a subscription update's ``discounts`` holds only
``di_…`` ids, while ``customer.discount.created`` names the discount's
``subscription`` and ``source.coupon``. Linking (``webhooks.linking``) has already
tied the event to a visit that offered that coupon, if there was one; what is left
is the subscription as stored: the customer's, and not being canceled.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_stripe_portal.models import PortalSession, StripeSubscription, WebhookEvent
from django_stripe_portal.state.subscriptions import ENDED_STATUSES
from django_stripe_portal.webhooks.interpret import Interpretation


@dataclass(frozen=True)
class RetentionAccepted:
    """What ``retention_offer_accepted`` is sent with."""

    subscription: StripeSubscription | None
    coupon: str
    portal_session: PortalSession


def accepted_retention_offer(
    row: WebhookEvent, meaning: Interpretation
) -> RetentionAccepted | None:
    """The accepted offer, or None; for None the event's ``retention_accepted`` kind is
    taken back (one UPDATE), so that only accepted offers count in the activity figures.

    ``subscription`` is None only when no event of that subscription reached the app yet.
    """
    visit = row.portal_session if row.portal_session_id is not None else None
    subscription = (
        StripeSubscription.objects.filter(stripe_id=meaning.discount_subscription).first()
        if visit is not None
        else None
    )
    canceling = subscription is not None and (
        subscription.customer_id != meaning.customer_id
        or subscription.status in ENDED_STATUSES
        or subscription.cancel_at_period_end
        or subscription.cancel_at is not None
    )
    if visit is None or canceling:
        row.change_kind = ""
        WebhookEvent.objects.filter(pk=row.pk).update(change_kind="")
        return None
    return RetentionAccepted(subscription, meaning.retention_coupon, visit)
