"""Coupons as ``coupon.*`` events told them: the terms a discount names by id only (API
2025-09-30 and later send a discount's ``source.coupon`` as an id)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StripeCoupon(models.Model):
    """One coupon's terms (``percent_off``/``amount_off``, ``duration``, …) on one account."""

    stripe_id = models.CharField(max_length=255, help_text="The coupon's id, e.g. WINBACK25")
    account = models.CharField(max_length=255, blank=True, default="")
    livemode = models.BooleanField(default=False)
    terms = models.JSONField(help_text="percent_off, amount_off, currency, duration, months")
    event_created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("Stripe coupon")
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_id", "account"], name="stripe_portal_coupon_per_account"
            )
        ]

    def __str__(self) -> str:
        return self.stripe_id
