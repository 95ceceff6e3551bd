"""Subscription state as the webhooks last told it."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.records import ChoicesFilter, StripeRecordAdmin, pretty_json
from django_stripe_portal.models import StripeSubscription

_SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)


class SubscriptionStatusFilter(ChoicesFilter):
    title = _("status")
    parameter_name = "status"
    field_name = "status"
    choices_list = _SUBSCRIPTION_STATUSES


@admin.register(StripeSubscription)
class StripeSubscriptionAdmin(StripeRecordAdmin):
    """Subscription state as the webhooks last told it."""

    list_display = (
        "stripe_id",
        "customer_id",
        "status",
        "cancel_at_period_end",
        "current_period_end",
        "livemode",
        "event_created_at",
    )
    list_filter = (SubscriptionStatusFilter, "cancel_at_period_end", "livemode")
    ordering = ("-event_created_at",)
    fields = (
        "stripe_id",
        "customer_id",
        "status",
        "items_formatted",
        "cancel_at_period_end",
        "cancel_at",
        "canceled_at",
        "current_period_end",
        "cancellation_details_formatted",
        "pause_collection_formatted",
        "livemode",
        "event_created_at",
        "updated",
    )
    readonly_fields = fields

    @admin.display(description=_("items"))
    def items_formatted(self, obj: StripeSubscription) -> SafeString:
        return pretty_json(obj.items)

    @admin.display(description=_("collection paused"))
    def pause_collection_formatted(self, obj: StripeSubscription) -> SafeString | str:
        return pretty_json(obj.pause_collection) if obj.pause_collection else str(_("not paused"))

    @admin.display(description=_("cancellation details"))
    def cancellation_details_formatted(self, obj: StripeSubscription) -> SafeString:
        return pretty_json(obj.cancellation_details)
