"""Portal configurations as ``sync_portal_configs`` stored them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.records import (
    AccountFilter,
    NoNulInQuery,
    ReadOnly,
    pretty_json,
)
from django_stripe_portal.models import PortalConfiguration


@admin.register(PortalConfiguration)
class PortalConfigurationAdmin(NoNulInQuery, ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Written by ``sync_portal_configs``: edit the settings and sync instead."""

    list_display = ("key", "stripe_id", "account", "livemode", "active", "is_default", "synced_at")
    list_filter = ("livemode", "active", "is_default", AccountFilter)
    search_fields = ("key", "=stripe_id")
    fields = (
        "key",
        "stripe_id",
        "livemode",
        "active",
        "is_default",
        "definition_hash",
        "synced_at",
        "stripe_data_formatted",
    )
    readonly_fields = fields

    @admin.display(description=_("Stripe data"))
    def stripe_data_formatted(self, obj: PortalConfiguration) -> SafeString:
        return pretty_json(obj.stripe_data)
