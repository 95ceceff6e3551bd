"""Discounts the app was told of by ``customer.discount.*`` events: what a subscription
payload that names a discount by id only needs to know of it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StripeDiscount(models.Model):
    """One discount (``di_…``) of a customer or one of their subscriptions."""

    stripe_id = models.CharField(max_length=255, unique=True, help_text="di_…")
    customer_id = models.CharField(max_length=255)
    subscription_id = models.CharField(
        max_length=255, blank=True, default="", help_text="empty: the customer's own discount"
    )
    coupon_id = models.CharField(max_length=255, blank=True, default="")
    terms = models.JSONField(
        null=True,
        blank=True,
        help_text="The coupon's terms (percent_off, amount_off, currency, duration, end); "
        "empty when the payload named the coupon by id only",
    )
    end = models.BigIntegerField(
        null=True, blank=True, help_text="When a repeating discount ends (Unix time)"
    )
    deleted = models.BooleanField(default=False)
    account = models.CharField(max_length=255, blank=True, default="")
    livemode = models.BooleanField(default=False)
    event_created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("Stripe discount")
        indexes = [
            models.Index(fields=["customer_id"], name="stripe_portal_disc_cust"),
            models.Index(fields=["coupon_id"], name="stripe_portal_disc_coupon"),
        ]

    def __str__(self) -> str:
        return self.stripe_id
