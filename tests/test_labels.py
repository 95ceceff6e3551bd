"""Words for Stripe's identifiers: every value of Stripe's enums has one, they are
translatable, and a visit's changes read once each."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.template import Context, Template
from django.utils import translation
from django.utils.functional import Promise

from django_stripe_portal import labels
from django_stripe_portal.events import ChangeKind
from django_stripe_portal.portal.button_form import FLOW_TYPES
from tests import contract


def _schema(name: str) -> dict[str, Any]:
    spec = json.loads((contract.OPENAPI_DIR / "billing_portal_subset.json").read_text())
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


@contract.requires_openapi
def test_every_stripe_enum_value_people_read_has_a_label() -> None:
    subscription = _schema("subscription")["properties"]
    details = subscription["cancellation_details"]["properties"]
    flow = _schema("billing_portal.session")["properties"]["flow"]["properties"]["type"]
    assert set(details["feedback"]["enum"]) <= set(labels.FEEDBACK_LABELS)
    assert set(details["reason"]["enum"]) <= set(labels.CANCELLATION_REASON_LABELS)
    assert set(subscription["status"]["enum"]) <= set(labels.STATUS_LABELS)
    assert set(flow["enum"]) <= set(labels.FLOW_LABELS)


def test_labels_are_words_not_identifiers() -> None:
    for mapping in (labels.FEEDBACK_LABELS, labels.FLOW_LABELS, labels.STATUS_LABELS):
        for value, label in mapping.items():
            assert "_" not in str(label), (value, label)
    assert set(FLOW_TYPES) <= set(labels.FLOW_LABELS)


@pytest.mark.parametrize(
    ("function", "value", "label"),
    [
        (labels.feedback_label, "too_expensive", "too expensive"),
        (labels.feedback_label, None, ""),
        (labels.feedback_label, "brand_new_reason", "brand new reason"),
        (labels.flow_label, "subscription_update", "plan change"),
        (labels.flow_label, "payment_method_update", "card update"),
        (labels.flow_label, "", "portal home"),
        (labels.status_label, "past_due", "past due"),
        (labels.change_kind_label, "cancel_scheduled", "cancellation scheduled"),
        (labels.change_kind_label, "", ""),
    ],
)
def test_one_label(function: Any, value: Any, label: str) -> None:
    assert function(value) == label


def test_a_card_update_reads_once() -> None:
    kinds = [
        ChangeKind.PAYMENT_METHOD_CHANGED,
        ChangeKind.PAYMENT_METHOD_CHANGED,
        "",
        ChangeKind.PLAN_CHANGED,
    ]
    assert labels.distinct_change_labels(kinds) == ["payment method changed", "plan changed"]


def test_the_template_filters() -> None:
    class Event:
        def __init__(self, kind: str) -> None:
            self.change_kind = kind

    template = Template(
        "{% load stripe_portal %}{{ flow|flow_label }}|{{ feedback|feedback_label }}|"
        '{{ events|change_labels|join:", " }}'
    )
    events = [Event("payment_method_changed"), Event("payment_method_changed")]
    context = Context({"flow": "subscription_update", "feedback": "unused", "events": events})
    assert template.render(context) == "plan change|not used enough|payment method changed"


def test_labels_are_translatable() -> None:
    """Lazy translations, resolved in the language active where they are shown."""
    assert all(isinstance(label, Promise) for label in labels.FEEDBACK_LABELS.values())
    assert all(isinstance(label, Promise) for label in labels.FLOW_LABELS.values())
    with translation.override("de"):
        assert isinstance(labels.flow_label("subscription_cancel"), str)
