"""What every admin page of the app shares: read-only Stripe records, lists that stay
fast on tables of millions of rows, filters that never ask the database for choices.

List pages never count the whole table (``show_full_result_count = False``, planner
estimates for large counts on PostgreSQL), list filters never scan for distinct
values, and searching is an exact match on indexed Stripe ids (or, where a page names
people, a user's name through the customer links: ``admin/people.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import SuspiciousOperation
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE

#: Below this many estimated rows the paginator counts exactly.
EXACT_COUNT_BELOW = 10_000


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
    try:
        plan = json.loads(object_list.order_by().explain(format="json"))
        return int(plan[0]["Plan"]["Plan Rows"])
    except (ValueError, LookupError, TypeError):
        # A filter Django knows matches nothing (e.g. ?pk= past the column's range) is
        # never sent, so EXPLAIN answers nothing: the exact count (0) is cheap then.
        return None


#: One date format on every page of the app (unambiguous, narrow: lists fit 1280 px).
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"


def short_datetime(value: dt.datetime | None) -> str:
    """``2026-11-05 14:03`` in the current time zone; ``-`` for none."""
    if value is None:
        return "-"
    return date_format(timezone.localtime(value), DATETIME_FORMAT)


def short_date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value)
    return date_format(value, DATE_FORMAT)


def identifier(value: str, words: str = "") -> SafeString:
    """A Stripe identifier where people read words: the words, the id on hover."""
    return format_html('<span title="{}">{}</span>', value, words or value)


def pretty_json(value: Any) -> SafeString:
    """A JSON value indented in a ``<pre>``, escaped (payloads are untrusted text)."""
    return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', indented_json(value))


#: Levels of indentation shown; deeper values are written at this indentation.
MAX_INDENT_LEVELS = 30


def indented_json(value: Any) -> str:
    """``json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)``, written with a
    stack instead of recursion: a stored payload of any depth (rows older than the
    nesting limit may be deep) is shown, never a ``RecursionError``. Indentation stops
    growing past :data:`MAX_INDENT_LEVELS` (Stripe nests about ten), so a deep payload's
    page grows with its size, not with the square of its depth."""
    parts: list[str] = []
    # What is left to write, last first: text as it is, or (value, indent level).
    todo: list[str | tuple[Any, int]] = [(value, 0)]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        current, level = item
        level = min(level, MAX_INDENT_LEVELS)
        if isinstance(current, dict) and current:
            inner = "\n" + "  " * (level + 1)
            entries = sorted(current.items(), key=lambda entry: str(entry[0]))
            pending: list[str | tuple[Any, int]] = ["{"]
            for index, (key, child) in enumerate(entries):
                lead = inner if index == 0 else "," + inner
                pending += [lead + _scalar_json(str(key)) + ": ", (child, level + 1)]
            pending.append("\n" + "  " * level + "}")
            todo.extend(reversed(pending))
        elif isinstance(current, list | tuple) and current:
            inner = "\n" + "  " * (level + 1)
            pending = ["["]
            for index, child in enumerate(current):
                pending += [inner if index == 0 else "," + inner, (child, level + 1)]
            pending.append("\n" + "  " * level + "]")
            todo.extend(reversed(pending))
        else:
            parts.append(_scalar_json(current))
    return "".join(parts)


def _scalar_json(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)


#: Past a 64-bit integer no column of any database holds the number.
_BIGGEST_INTEGER = 2**63 - 1
#: The query string's names that are not filters (search, order, page, popup flags).
_NOT_FILTERS = frozenset(("q", "o", "p", "e", "_popup", "_to_field", "all"))


class SafeListQuery:
    """A list page whose query string no database can take answers 400, not 500.

    - A NUL: PostgreSQL refuses it in a text parameter, and Django's admin sends filter and
      search values to it as given, so ``?q=%00`` or ``?account=acct_%00`` was a 500.
    - A filter's integer past 64 bits (``?id__in=9223372036854775808``): SQLite's driver
      cannot bind it. Django guards ``exact`` and the comparisons, not ``__in``."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if any("\x00" in key or "\x00" in "".join(values) for key, values in request.GET.lists()):
            raise SuspiciousOperation("NUL character in an admin list's query string")
        if any(
            _past_64_bits(part)
            for key, values in request.GET.lists()
            if key not in _NOT_FILTERS
            for value in values
            for part in value.split(",")
        ):
            raise SuspiciousOperation("an integer past 64 bits in an admin list's filter")
        return super().changelist_view(request, extra_context)  # type: ignore[misc,no-any-return]


def _past_64_bits(text: str) -> bool:
    digits = text.strip().removeprefix("-").removeprefix("+")
    return digits.isascii() and digits.isdigit() and abs(int(text)) > _BIGGEST_INTEGER


class ReadOnly:
    """Stripe's record, or what sync wrote: shown, never edited here."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class StripeRecordAdmin(SafeListQuery, ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only, large-table friendly list, exact search on Stripe ids."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    class Media:
        css = {"all": ("django_stripe_portal/admin/lists.css",)}

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
            queryset = queryset.filter(self.search_term_match(term))
        return queryset, False

    def search_term_match(self, term: str) -> Q:
        """What one search term matches: an exact id in any of ``exact_search_fields``."""
        match = Q()
        for field_name in self.exact_search_fields:
            match |= Q(**{field_name: term})
        return match


def with_id(words: str, value: str) -> SafeString:
    """Words for people, then the identifier for developers (``plan change``, then
    ``subscription_update``)."""
    if not value or words == value:
        return format_html("{}", words or "-")
    return format_html('{} <code class="stripe-id">{}</code>', words, value)


class ChoicesFilter(admin.SimpleListFilter):
    """A filter whose choices are fixed, so the page never asks the database for them."""

    choices_list: tuple[str, ...] = ()
    field_name = ""

    def label_of(self, value: str) -> str:
        """What the filter shows for ``value``: the value itself unless a subclass has words."""
        return value

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, self.label_of(value)) for value in self.choices_list]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{self.field_name: value})


class AccountColumn:
    """A list column naming the row's Stripe account: *platform*, or the connected one."""

    @admin.display(description=_("Stripe account"), ordering="account")
    def stripe_account(self, obj: Any) -> str:
        return str(obj.account or _("platform"))


class AccountFilter(admin.SimpleListFilter):
    """By Stripe account (Connect): the platform, any connected account, or one of them
    through ``?account=acct_…`` in the address (also how the filter links to itself).

    The choices are fixed: with thousands of connected accounts, listing them would mean
    a scan of the table the page is about.
    """

    title = _("Stripe account")
    parameter_name = "account"
    PLATFORM = "platform"
    CONNECTED = "connected"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        choices: list[tuple[str, Any]] = [
            (self.PLATFORM, _("Platform")),
            (self.CONNECTED, _("Any connected account")),
        ]
        value = self.value()
        if value and ACCOUNT_ID_RE.fullmatch(value):
            choices.append((value, value))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value == self.PLATFORM:
            return queryset.filter(account="")
        if value == self.CONNECTED:
            return queryset.exclude(account="")
        return queryset.filter(account=value)
