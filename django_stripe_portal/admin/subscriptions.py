"""Subscription state as the webhooks last told it."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import labels
from django_stripe_portal.admin.people import PeopleAdmin
from django_stripe_portal.admin.records import (
    AccountFilter,
    ChoicesFilter,
    identifier,
    pretty_json,
    short_date,
    short_datetime,
)
from django_stripe_portal.conf import SUBSCRIPTION_STATUSES
from django_stripe_portal.models import StripeSubscription


class SubscriptionStatusFilter(ChoicesFilter):
    title = _("status")
    parameter_name = "status"
    field_name = "status"
    choices_list = SUBSCRIPTION_STATUSES

    def label_of(self, value: str) -> str:
        return labels.status_label(value)


@admin.register(StripeSubscription)
class StripeSubscriptionAdmin(PeopleAdmin):
    """Subscription state as the webhooks last told it."""

    # The columns that fit a 1280 px window beside the filters; the rest is on the page.
    list_display = ("customer", "state", "next_date", "last_event")
    list_display_links = ("customer",)
    list_filter = (SubscriptionStatusFilter, "cancel_at_period_end", "livemode", AccountFilter)
    ordering = ("-event_created_at", "-pk")
    fields = (
        "stripe_id",
        "customer_with_id",
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

    def page_subtitle(self, obj: StripeSubscription) -> str:
        return str(_("%(customer)s, subscription %(status)s")) % {
            "customer": super().page_subtitle(obj),
            "status": labels.status_label(obj.status),
        }

    @admin.display(description=_("status"), ordering="status")
    def state(self, obj: StripeSubscription) -> SafeString:
        return identifier(obj.status, labels.status_label(obj.status))

    @admin.display(description=_("renews or ends"), ordering="current_period_end")
    def next_date(self, obj: StripeSubscription) -> str:
        """What happens next and when, in one column for Stripe's several fields: a
        renewal, a scheduled cancellation (``cancel_at`` or at the period's end), or the
        end it already had."""
        if obj.status in ("canceled", "incomplete_expired"):
            return str(_("ended %(date)s")) % {"date": short_date(obj.canceled_at)}
        if obj.cancel_at is not None:
            return str(_("cancels %(date)s")) % {"date": short_date(obj.cancel_at)}
        if obj.cancel_at_period_end:
            return str(_("cancels %(date)s")) % {"date": short_date(obj.current_period_end)}
        if obj.current_period_end is not None:
            return str(_("renews %(date)s")) % {"date": short_date(obj.current_period_end)}
        return "-"

    @admin.display(description=_("last event"), ordering="event_created_at")
    def last_event(self, obj: StripeSubscription) -> str:
        return short_datetime(obj.event_created_at)

    @admin.display(description=_("items"))
    def items_formatted(self, obj: StripeSubscription) -> SafeString:
        return pretty_json(obj.items)

    @admin.display(description=_("collection paused"))
    def pause_collection_formatted(self, obj: StripeSubscription) -> SafeString | str:
        return pretty_json(obj.pause_collection) if obj.pause_collection else str(_("not paused"))

    @admin.display(description=_("cancellation details"))
    def cancellation_details_formatted(self, obj: StripeSubscription) -> SafeString:
        return pretty_json(obj.cancellation_details)
