"""Admin for every model, and the "Portal activity" page.

Webhook events, portal sessions, subscriptions and configurations are Stripe's
record (or written by the sync command): they are shown, never edited here.
Customer links are ours and stay editable.

Tables grow to millions of rows, so list pages never count the whole table
(``show_full_result_count = False``, planner estimates for large counts on
PostgreSQL), list filters never scan for distinct values, and searching is an
exact match on indexed Stripe ids.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal import activity, charts
from django_stripe_portal.events import HANDLED_EVENTS
from django_stripe_portal.models import (
    PortalConfiguration,
    PortalSession,
    StripeCustomer,
    StripeSubscription,
    WebhookEvent,
)
from django_stripe_portal.portal_flows import FLOW_TYPES

#: Below this many estimated rows the paginator counts exactly.
EXACT_COUNT_BELOW = 10_000
#: The activity page refuses longer ranges (one point per day on the chart).
MAX_ACTIVITY_DAYS = 366
#: The replay action dispatches at most this many events in one request; more is a
#: job for ``manage.py replay_stripe_events``.
MAX_REPLAY = 100

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


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts exactly when the result is small; on PostgreSQL, a large result is
    counted by the planner's estimate (``EXPLAIN``) instead of ``COUNT(*)`` over
    millions of rows. Page links past the estimate just show an empty page."""

    @cached_property
    def count(self) -> int:
        estimate = _planner_estimate(self.object_list)
        if estimate is not None and estimate >= EXACT_COUNT_BELOW:
            return estimate
        return super().count


def _planner_estimate(object_list: Any) -> int | None:
    if not isinstance(object_list, QuerySet):
        return None
    if connections[object_list.db].vendor != "postgresql":
        return None
    plan = json.loads(object_list.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def pretty_json(value: Any) -> SafeString:
    """A JSON value indented in a ``<pre>``, escaped (payloads are untrusted text)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', text)


class _ReadOnly:
    """Stripe's record, or what sync wrote: shown, never edited here."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class _StripeRecordAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only, large-table friendly list, exact search on Stripe ids."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    #: Searched by exact match (indexed), one term at a time, any of these fields.
    exact_search_fields: tuple[str, ...] = ("stripe_id", "customer_id")
    search_help_text = _("Exact Stripe id (evt_…, bps_…, sub_…) or customer id (cus_…).")

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return self.exact_search_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        for term in search_term.split():
            match = Q()
            for field_name in self.exact_search_fields:
                match |= Q(**{field_name: term})
            queryset = queryset.filter(match)
        return queryset, False


class _ChoicesFilter(admin.SimpleListFilter):
    """A filter whose choices are fixed, so the page never asks the database for them."""

    choices_list: tuple[str, ...] = ()
    field_name = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in self.choices_list]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{self.field_name: value})


class EventTypeFilter(_ChoicesFilter):
    title = _("type")
    parameter_name = "type"
    field_name = "type"
    choices_list = HANDLED_EVENTS


class FlowTypeFilter(_ChoicesFilter):
    title = _("flow")
    parameter_name = "flow_type"
    field_name = "flow_type"
    choices_list = FLOW_TYPES


class SubscriptionStatusFilter(_ChoicesFilter):
    title = _("status")
    parameter_name = "status"
    field_name = "status"
    choices_list = _SUBSCRIPTION_STATUSES


class ReturnedFilter(admin.SimpleListFilter):
    title = _("came back")
    parameter_name = "returned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(returned_at__isnull=self.value() == "no")
        return queryset


@admin.register(StripeCustomer)
class StripeCustomerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The user ↔ customer links the default resolver reads: ours to edit."""

    list_display = ("customer_id", "user", "livemode", "created")
    list_filter = ("livemode",)
    list_select_related = ("user",)
    search_fields = ("=customer_id", "user__username", "user__email")
    raw_id_fields = ("user",)
    readonly_fields = ("created",)
    show_full_result_count = False


@admin.register(PortalConfiguration)
class PortalConfigurationAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Written by ``sync_portal_configs``: edit the settings and sync instead."""

    list_display = ("key", "stripe_id", "livemode", "active", "is_default", "synced_at")
    list_filter = ("livemode", "active", "is_default")
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


class LinkedChangeInline(_ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    """The events the dispatcher linked to this visit: what the customer did."""

    model = WebhookEvent
    fk_name = "portal_session"
    verbose_name = _("linked change")
    verbose_name_plural = _("changes made during this visit")
    fields = ("stripe_id", "type", "change_kind", "created_at", "cancellation_feedback")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        events: QuerySet[WebhookEvent] = super().get_queryset(request)
        return (
            events.defer("payload")
            .annotate(feedback=F("payload__data__object__cancellation_details__feedback"))
            .order_by("created_at", "pk")
        )

    @admin.display(description=_("cancellation feedback"))
    def cancellation_feedback(self, obj: WebhookEvent) -> str:
        return str(getattr(obj, "feedback", None) or "")


@admin.register(PortalSession)
class PortalSessionAdmin(_StripeRecordAdmin):
    """Portal visits, each with the changes linked to it; also serves the activity page."""

    list_display = (
        "stripe_id",
        "customer_id",
        "created_at",
        "returned_at",
        "configuration",
        "flow_type",
        "source",
        "livemode",
    )
    list_select_related = ("configuration",)
    list_filter = (ReturnedFilter, "source", "livemode", FlowTypeFilter, "configuration")
    ordering = ("-created_at",)
    fields = (
        "stripe_id",
        "customer_id",
        "user",
        "configuration",
        "flow_type",
        "locale",
        "return_to",
        "livemode",
        "source",
        "created_at",
        "returned_at",
    )
    readonly_fields = fields
    inlines = (LinkedChangeInline,)

    def get_urls(self) -> list[URLPattern]:
        activity_view = self.admin_site.admin_view(self.activity_view)
        custom = [
            path("activity/", activity_view, name="django_stripe_portal_portalsession_activity"),
        ]
        return custom + super().get_urls()

    def activity_view(self, request: HttpRequest) -> HttpResponse:
        """The "Portal activity" page: the figures of ``django_stripe_portal.activity``
        for a chosen range, as tables and inline SVG charts."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ActivityRangeForm(request.GET or None)
        if form.is_valid():
            activity_range = form.activity_range()
            customer_id = form.cleaned_data["customer"]
        else:
            activity_range = activity.ActivityRange.last_days(30)
            customer_id = ""
        report = activity.activity_report(activity_range)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Portal activity"),
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "time_zone": str(timezone.get_default_timezone()),
            "visits_chart": charts.line_chart(
                [date_format(day.day, "M j") for day in report.per_day],
                [
                    charts.Series(str(_("visits")), [day.visits for day in report.per_day]),
                    charts.Series(
                        str(_("unique customers")),
                        [day.unique_customers for day in report.per_day],
                    ),
                ],
                title=str(_("Visits and unique customers per day")),
            ),
            "outcomes_chart": charts.bar_chart(
                [(str(row.label), row.visits) for row in report.outcomes],
                title=str(_("Visits by what they ended in")),
            ),
            "customer_id": customer_id,
            "history": activity.customer_history(customer_id, activity_range)
            if customer_id
            else None,
        }
        return TemplateResponse(request, "admin/django_stripe_portal/portal_activity.html", context)


class ActivityRangeForm(forms.Form):
    """The range, configuration and (optionally) customer the activity page shows."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    configuration = forms.ChoiceField(required=False)
    customer = forms.CharField(
        required=False, max_length=255, help_text=_("A customer id (cus_…) to list its visits.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keys = PortalConfiguration.objects.order_by("key").values_list("key", flat=True)
        configuration = self.fields["configuration"]
        assert isinstance(configuration, forms.ChoiceField)
        configuration.choices = [("", _("all")), *((key, key) for key in keys.distinct())]
        default = activity.ActivityRange.last_days(30)
        self.fields["start"].initial = default.start
        self.fields["end"].initial = default.end

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        today = timezone.localdate(timezone=timezone.get_default_timezone())
        end = cleaned.get("end") or today
        start = cleaned.get("start") or end - dt.timedelta(days=29)
        if end < start:
            raise forms.ValidationError(_("The range ends before it starts."))
        if (end - start).days + 1 > MAX_ACTIVITY_DAYS:
            raise forms.ValidationError(
                _("Choose at most %(days)d days.") % {"days": MAX_ACTIVITY_DAYS}
            )
        cleaned["start"], cleaned["end"] = start, end
        cleaned["customer"] = (cleaned.get("customer") or "").strip()
        return cleaned

    def activity_range(self) -> activity.ActivityRange:
        return activity.ActivityRange(
            start=self.cleaned_data["start"],
            end=self.cleaned_data["end"],
            configuration=self.cleaned_data.get("configuration") or None,
        )


@admin.register(StripeSubscription)
class StripeSubscriptionAdmin(_StripeRecordAdmin):
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
        "livemode",
        "event_created_at",
        "updated",
    )
    readonly_fields = fields

    @admin.display(description=_("items"))
    def items_formatted(self, obj: StripeSubscription) -> SafeString:
        return pretty_json(obj.items)

    @admin.display(description=_("cancellation details"))
    def cancellation_details_formatted(self, obj: StripeSubscription) -> SafeString:
        return pretty_json(obj.cancellation_details)


@admin.register(WebhookEvent)
class WebhookEventAdmin(_StripeRecordAdmin):
    """Every verified event as received, with its processing state."""

    list_display = (
        "stripe_id",
        "type",
        "status",
        "change_kind",
        "customer_id",
        "created_at",
        "attempts",
        "visit",
    )
    list_filter = ("status", EventTypeFilter, "change_kind", "livemode")
    ordering = ("-created_at",)
    actions = ("replay_events",)
    fields = (
        "stripe_id",
        "type",
        "status",
        "change_kind",
        "customer_id",
        "portal_session",
        "livemode",
        "api_version",
        "account",
        "created_at",
        "received_at",
        "processed_at",
        "attempts",
        "last_error",
        "payload_formatted",
    )
    readonly_fields = fields

    @admin.display(description=_("visit"))
    def visit(self, obj: WebhookEvent) -> str:
        """A link by id: the list page does not join the sessions table."""
        if obj.portal_session_id is None:
            return "-"
        url = reverse(
            f"{self.admin_site.name}:django_stripe_portal_portalsession_change",
            args=[obj.portal_session_id],
        )
        return format_html('<a href="{}">{}</a>', url, _("visit"))

    @admin.display(description=_("payload"))
    def payload_formatted(self, obj: WebhookEvent) -> SafeString:
        return pretty_json(obj.payload)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Replaying writes state: it needs the change permission the pages do not use."""
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description=_("Replay selected events"), permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        """Dispatch the selected events again, whatever their status, exactly as
        ``manage.py replay_stripe_events --id …`` does (same row lock)."""
        from django_stripe_portal.webhooks.process import Outcome, process_stored_event

        selected = list(
            queryset.order_by("created_at", "pk").values_list("stripe_id", flat=True)[
                : MAX_REPLAY + 1
            ]
        )
        if len(selected) > MAX_REPLAY:
            self.message_user(
                request,
                _(
                    "Select at most %(max)d events to replay here; for more, run "
                    "manage.py replay_stripe_events."
                )
                % {"max": MAX_REPLAY},
                messages.ERROR,
            )
            return
        outcomes = Counter(
            process_stored_event(stripe_id, nowait=True, statuses=WebhookEvent.Status.values)
            for stripe_id in selected
        )
        summary = ", ".join(f"{count} {outcome.value}" for outcome, count in outcomes.items())
        failed = outcomes[Outcome.FAILED] + outcomes[Outcome.BUSY]
        self.message_user(
            request,
            _("Replayed %(count)d event(s): %(summary)s.")
            % {"count": len(selected), "summary": summary},
            messages.WARNING if failed else messages.SUCCESS,
        )
