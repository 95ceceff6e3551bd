"""Portal visits, each with the changes linked to it; the list links to the activity page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import labels
from django_stripe_portal.admin.activity_page import activity_view
from django_stripe_portal.admin.at_risk_page import at_risk_view
from django_stripe_portal.admin.people import PeopleAdmin
from django_stripe_portal.admin.records import (
    AccountFilter,
    ChoicesFilter,
    ReadOnly,
    identifier,
    short_datetime,
    with_id,
)
from django_stripe_portal.models import PortalConfiguration, PortalSession, WebhookEvent
from django_stripe_portal.portal.button_form import FLOW_TYPES


class FlowTypeFilter(ChoicesFilter):
    title = _("opened for")
    parameter_name = "flow_type"
    field_name = "flow_type"
    choices_list = FLOW_TYPES

    def label_of(self, value: str) -> str:
        return labels.flow_label(value)


class ConfigurationFilter(admin.SimpleListFilter):
    """By the configuration's key: its ``bpc_…`` id is for developers (and too long for
    the filter column). Each key once, though every account (Connect) and mode has a
    configuration of its own under it: the account filter tells those apart. The
    configurations table is a handful of rows."""

    title = _("configuration")
    parameter_name = "configuration"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        keys = PortalConfiguration.objects.order_by("key").values_list("key", flat=True)
        return [(key, key) for key in dict.fromkeys(keys)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        configurations = PortalConfiguration.objects.filter(key=value).values("pk")
        return queryset.filter(configuration_id__in=configurations)


class ReturnedFilter(admin.SimpleListFilter):
    title = _("came back")
    parameter_name = "returned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(returned_at__isnull=self.value() == "no")
        return queryset


class LinkedChangeInline(ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    """The events the dispatcher linked to this visit: what the customer did."""

    model = WebhookEvent
    fk_name = "portal_session"
    verbose_name = _("linked change")
    verbose_name_plural = _("changes made during this visit")
    fields = ("change", "cancellation_feedback", "when", "type", "stripe_id")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        events: QuerySet[WebhookEvent] = super().get_queryset(request)
        return (
            events.defer("payload")
            .annotate(feedback=F("cancel_feedback"))
            .order_by("created_at", "pk")
        )

    @admin.display(description=_("change"))
    def change(self, obj: WebhookEvent) -> str:
        return labels.change_kind_label(obj.change_kind) or "-"

    @admin.display(description=_("cancellation feedback"))
    def cancellation_feedback(self, obj: WebhookEvent) -> SafeString | str:
        """Only a cancellation has one: a plan change carries the subscription's old
        ``cancellation_details`` along, which says nothing about this change."""
        feedback = getattr(obj, "feedback", None)
        if obj.change_kind not in labels.CANCELLATION_KINDS:
            return ""
        if not feedback:
            return str(_("no reason given"))
        return identifier(str(feedback), labels.feedback_label(feedback))

    @admin.display(description=_("when"))
    def when(self, obj: WebhookEvent) -> str:
        return short_datetime(obj.created_at)


@admin.register(PortalSession)
class PortalSessionAdmin(PeopleAdmin):
    """Portal visits, each with the changes linked to it; also serves the activity page."""

    # The columns that fit a 1280 px window beside the filters; the rest is on the visit.
    list_display = ("opened", "customer", "opened_for", "came_back")
    list_display_links = ("opened",)
    list_select_related = ("configuration",)
    list_filter = (
        ReturnedFilter,
        "source",
        "livemode",
        FlowTypeFilter,
        ConfigurationFilter,
        AccountFilter,
    )
    ordering = ("-created_at", "-pk")
    fields = (
        "stripe_id",
        "customer_with_id",
        "user",
        "configuration",
        "opened_for_and_flow",
        "retention_coupon",
        "locale",
        "return_to",
        "livemode",
        "source",
        "opened",
        "returned",
    )
    readonly_fields = fields
    inlines = (LinkedChangeInline,)

    def page_subtitle(self, obj: PortalSession) -> str:
        return str(_("%(customer)s, portal visit of %(when)s")) % {
            "customer": super().page_subtitle(obj),
            "when": short_datetime(obj.created_at),
        }

    @admin.display(description=_("opened"), ordering="created_at")
    def opened(self, obj: PortalSession) -> str:
        return short_datetime(obj.created_at)

    @admin.display(description=_("came back"))
    def returned(self, obj: PortalSession) -> str:
        return short_datetime(obj.returned_at)

    @admin.display(description=_("opened for"), ordering="flow_type")
    def opened_for(self, obj: PortalSession) -> SafeString:
        return identifier(obj.flow_type or "", labels.flow_label(obj.flow_type))

    @admin.display(description=_("opened for"))
    def opened_for_and_flow(self, obj: PortalSession) -> SafeString:
        return with_id(labels.flow_label(obj.flow_type), obj.flow_type)

    @admin.display(description=_("came back"), boolean=True, ordering="returned_at")
    def came_back(self, obj: PortalSession) -> bool:
        return obj.returned_at is not None

    def get_urls(self) -> list[URLPattern]:
        activity_view = self.admin_site.admin_view(self.activity_view)
        custom = [
            path("activity/", activity_view, name="django_stripe_portal_portalsession_activity"),
            path(
                "at-risk/",
                self.admin_site.admin_view(self.at_risk_view),
                name="django_stripe_portal_portalsession_at_risk",
            ),
        ]
        return custom + super().get_urls()

    def activity_view(self, request: HttpRequest) -> HttpResponse:
        return activity_view(self, request)

    def at_risk_view(self, request: HttpRequest) -> HttpResponse:
        return at_risk_view(self, request)
