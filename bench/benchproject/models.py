"""The floor's table: the one insert every verifying, persisting webhook endpoint makes."""

from __future__ import annotations

from django.db import models


class FloorEvent(models.Model):
    """A Stripe event stored once, keyed by its ``evt_…`` id."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()

    def __str__(self) -> str:
        return self.stripe_id
