"""Portal configurations as ``sync_portal_configs`` stored them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.records import (
    AccountColumn,
    AccountFilter,
    ReadOnly,
    SafeListQuery,
    pretty_json,
    short_datetime,
)
from django_stripe_portal.models import PortalConfiguration


@admin.register(PortalConfiguration)
class PortalConfigurationAdmin(SafeListQuery, AccountColumn, ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Written by ``sync_portal_configs``: edit the settings and sync instead."""

    # The columns that fit a 1280 px window beside the filters; the rest is on the page.
    list_display = ("key", "stripe_account", "active", "is_default", "synced")
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

    class Media:
        css = {"all": ("django_stripe_portal/admin/lists.css",)}

    @admin.display(description=_("synced"), ordering="synced_at")
    def synced(self, obj: PortalConfiguration) -> str:
        return short_datetime(obj.synced_at)

    @admin.display(description=_("Stripe data"))
    def stripe_data_formatted(self, obj: PortalConfiguration) -> SafeString:
        return pretty_json(obj.stripe_data)
