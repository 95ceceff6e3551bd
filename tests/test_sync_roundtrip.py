"""Property tests: whatever valid body is declared, what Stripe stores compares equal
to it (an unchanged declaration never looks changed), and one update converges."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_stripe_portal.configurations.apply import update_params
from django_stripe_portal.configurations.diff import compare
from django_stripe_portal.configurations.schema import (
    _Rule,
    create_rule,
    validate_declaration,
    wire_params,
)
from django_stripe_portal.configurations.stripe_defaults import apply_params
from django_stripe_portal.testing.stripe_forms import configuration_params
from tests import contract
from tests.fake_stripe_configs import FakeStripeConfigurations

_TEXT = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=20)
_IDS = {
    "product": st.sampled_from(["prod_a", "prod_b", "prod_c"]),
    "prices": st.lists(
        st.sampled_from(["price_1", "price_2", "price_3"]), min_size=1, max_size=3, unique=True
    ),
}
# Free-text fields whose value Stripe checks beyond the spec (URLs, ids): keep them simple.
_SKIP = {"payment_method_configuration", "feedback_options", "metadata", "name"}


def _strategy(rule: _Rule, name: str = "") -> st.SearchStrategy[Any]:
    if name in _IDS:
        return _IDS[name]
    if rule.kind == "object":
        required = {n: _strategy(r, n) for n, r in rule.fields.items() if n in rule.required}
        optional = {
            n: _strategy(r, n)
            for n, r in rule.fields.items()
            if n not in rule.required and n not in _SKIP
        }
        return st.fixed_dictionaries(required, optional=optional)
    if rule.kind == "list":
        assert rule.item is not None
        if rule.item.kind == "enum":
            values = st.lists(st.sampled_from(rule.item.enum), unique=True, max_size=3)
        elif name == "products":
            values = st.lists(_strategy(rule.item), max_size=3, unique_by=lambda p: p["product"])
        else:
            values = st.lists(_strategy(rule.item), max_size=2, unique_by=repr)
        return values | st.just("") if rule.unsettable else values
    if rule.kind == "enum":
        return st.sampled_from(rule.enum)
    if rule.kind == "boolean":
        return st.booleans()
    if rule.kind == "integer":
        return st.integers(min_value=1, max_value=12)
    text = (
        _TEXT.map(lambda t: "https://example.com/" + t.replace(" ", "-"))
        if "url" in name
        else _TEXT
    )
    return text | st.just("") if rule.unsettable else text


# Bodies the types allow, minus those the spec's described rules refuse.
declarations = _strategy(create_rule()).filter(lambda body: not validate_declaration("k", body))


def _stored(fake: FakeStripeConfigurations, body: dict[str, Any]) -> dict[str, Any]:
    """What Stripe holds after creating ``body`` (sent as the library would send it)."""
    sent = configuration_params(wire_params(body, update=False), update=False)
    return fake._new_object(sent)


@pytest.fixture
def fake(stripe_mock: responses.RequestsMock) -> FakeStripeConfigurations:
    return FakeStripeConfigurations(stripe_mock)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=declarations)
def test_a_created_declaration_compares_equal(
    fake: FakeStripeConfigurations, body: dict[str, Any]
) -> None:
    assert validate_declaration("k", body) == []
    assert compare(body, _stored(fake, body)) == []


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=declarations, after=declarations)
def test_one_update_converges(
    fake: FakeStripeConfigurations, before: dict[str, Any], after: dict[str, Any]
) -> None:
    obj = _stored(fake, before)
    changes = compare(after, obj)
    if not changes:
        return
    params = update_params(changes, after, obj)
    if contract.available():
        contract.validator().validate_request(
            "POST", "/v1/billing_portal/configurations/bpc_1", wire_params(params, update=True)
        )
    apply_params(obj, configuration_params(wire_params(params, update=True), update=True))
    assert compare(after, obj) == []


@contract.requires_openapi
@settings(max_examples=40, deadline=None)
@given(body=declarations)
def test_generated_declarations_are_valid_for_stripes_spec_too(body: dict[str, Any]) -> None:
    """The offline rules accept nothing the spec refuses (the wire form is what is sent)."""
    v = contract.validator()
    v.validate_request("POST", "/v1/billing_portal/configurations", wire_params(body, update=False))
