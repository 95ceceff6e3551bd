"""A user's Stripe customer, one per account."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StripeCustomer(models.Model):
    """Links a user to their Stripe customer, one per account (the platform, or each
    connected account the user is a customer on); read by the default customer resolver."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="stripe_customers",
    )
    customer_id = models.CharField(
        max_length=255, help_text="cus_…, or the acct_… of an Accounts v2 customer"
    )
    account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The connected account (acct_…) this row lives on; empty for the platform",
    )
    customer_account = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The Account (acct_…) standing for the customer (Accounts v2); empty for cus_…",
    )
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Stripe customer")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account"], name="stripe_portal_customer_user_account"
            ),
            models.UniqueConstraint(
                fields=["account", "customer_id"], name="stripe_portal_customer_id_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} ({self.user})"
