"""The user ↔ customer links: the one table of the app that is ours to edit."""

from __future__ import annotations

from django.contrib import admin

from django_stripe_portal.admin.records import AccountFilter, NoNulInQuery
from django_stripe_portal.models import StripeCustomer


@admin.register(StripeCustomer)
class StripeCustomerAdmin(NoNulInQuery, admin.ModelAdmin):  # type: ignore[type-arg]
    """The user ↔ customer links the default resolver reads: ours to edit."""

    list_display = ("customer_id", "user", "account", "livemode", "created")
    list_filter = ("livemode", AccountFilter)
    list_select_related = ("user",)
    search_fields = ("=customer_id", "user__username", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("created",)
    show_full_result_count = False
