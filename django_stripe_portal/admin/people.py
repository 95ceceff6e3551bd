"""People on the admin pages: the customer named by ``CUSTOMER_LABEL`` in every list (one
query a page), change pages titled with the person, and search by a user's name or email.

Events, visits and subscriptions carry only Stripe's ``customer_id``; the person is found
through the ``StripeCustomer`` link to the user, for a whole page of rows at once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Model, Q
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_stripe_portal.admin.records import StripeRecordAdmin, identifier, with_id
from django_stripe_portal.customer_labels import customer_labels
from django_stripe_portal.customer_search import customers_named, looks_like_stripe_id

#: The attribute a list row carries its label in, set once for the whole page.
_LABEL_ATTRIBUTE = "_customer_label"


class _LabelledChangeList(ChangeList):
    """The page's rows, each given its customer's label by one ``customer_labels`` call."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)  # fills the queryset's cache: the page renders these
        labels = customer_labels(row.customer_id for row in rows)
        for row in rows:
            setattr(row, _LABEL_ATTRIBUTE, labels.get(row.customer_id, row.customer_id))


def customer_label_of(obj: Any) -> str:
    """The label a list page set on the row, else one query for this row alone."""
    label = getattr(obj, _LABEL_ATTRIBUTE, None)
    if label is None:
        customer_id = obj.customer_id or ""
        label = customer_labels([customer_id], account=None).get(customer_id, customer_id)
        setattr(obj, _LABEL_ATTRIBUTE, label)
    return str(label)


class PeopleAdmin(StripeRecordAdmin):
    """A ``customer`` column and field named by ``CUSTOMER_LABEL``, change pages whose
    title names the person, and search by name or email. For models with a ``customer_id``."""

    search_help_text = _(
        "A person's name, email or username, or an exact Stripe id (evt_…, bps_…, sub_…, cus_…)."
    )

    def search_term_match(self, term: str) -> Q:
        """A word matches the customers whose linked user is named so, as a subquery; a
        word shaped like a Stripe id matches that id exactly (the indexes), and a person
        only if one is named so. The users table (small) is asked that first: an ``OR``
        of the two would make PostgreSQL test every row of the list against the
        subquery instead of finding the rows through the ``customer_id`` index."""
        named = Q(customer_id__in=customers_named(term))
        if not looks_like_stripe_id(term):
            return named
        exact = super().search_term_match(term)
        return exact | named if customers_named(term).exists() else exact

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _LabelledChangeList

    @admin.display(description=_("customer"), ordering="customer_id")
    def customer(self, obj: Any) -> SafeString:
        """The person, with Stripe's customer id on hover."""
        return identifier(obj.customer_id or "", customer_label_of(obj) or "-")

    @admin.display(description=_("customer"))
    def customer_with_id(self, obj: Any) -> SafeString:
        """The person, then Stripe's customer id for developers."""
        return with_id(customer_label_of(obj), obj.customer_id or "")

    def page_subtitle(self, obj: Any) -> str:
        """The change page's title: the person, then what the row is."""
        return customer_label_of(obj)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Model | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context["subtitle"] = self.page_subtitle(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
