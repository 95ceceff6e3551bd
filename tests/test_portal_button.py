"""``{% portal_button %}``: a CSRF-protected POST form, nothing for anonymous users."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client, RequestFactory, override_settings
from django.utils import translation

from django_stripe_portal.models import PortalSession
from tests.portal_support import CUSTOMER_ID, FakePortalApi

pytestmark = pytest.mark.django_db


def render(source: str, user: Any, **context: Any) -> str:
    request = RequestFactory().get("/account/")
    request.user = user
    return Template("{% load stripe_portal %}" + source).render(
        Context({"request": request, **context})
    )


def test_default_button(customer_link: Any) -> None:
    html = render("{% portal_button %}", customer_link.user)

    assert '<form method="post" action="/billing/portal/"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert ">Manage billing</button>" in html
    assert 'name="flow"' not in html
    assert 'name="return_to"' not in html


def test_label_and_options(customer_link: Any) -> None:
    html = render(
        '{% portal_button "Cancel plan" flow="subscription_cancel" subscription=sub '
        'return_to=request.path css_class="btn btn-danger" %}',
        customer_link.user,
        sub="sub_button0001",
    )

    assert ">Cancel plan</button>" in html
    assert '<button type="submit" class="btn btn-danger">' in html
    assert '<input type="hidden" name="flow" value="subscription_cancel">' in html
    assert '<input type="hidden" name="subscription" value="sub_button0001">' in html
    assert '<input type="hidden" name="return_to" value="/account/">' in html


def test_confirm_flow_carries_the_price(customer_link: Any) -> None:
    html = render(
        '{% portal_button "Upgrade" flow="subscription_update_confirm" subscription="sub_1" '
        'price="price_pro" %}',
        customer_link.user,
    )

    assert '<input type="hidden" name="price" value="price_pro">' in html


def test_values_are_escaped(customer_link: Any) -> None:
    html = render(
        "{% portal_button label return_to=target %}",
        customer_link.user,
        label="<b>bold</b>",
        target='/x/"><script>',
    )

    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_nothing_for_anonymous_users() -> None:
    assert render("{% portal_button %}", AnonymousUser()).strip() == ""


def test_works_without_a_request_in_the_context(customer_link: Any) -> None:
    html = Template("{% load stripe_portal %}{% portal_button %}").render(
        Context({"user": customer_link.user, "csrf_token": "tok123"})
    )

    assert 'value="tok123"' in html


def test_default_label_is_translated(customer_link: Any) -> None:
    with translation.override("fr"), override_settings(LANGUAGE_CODE="fr"):
        html = render("{% portal_button %}", customer_link.user)

    # Without a French catalogue the source string stays; the label is a lazy translation.
    assert "Manage billing" in html


def test_unknown_option_is_a_template_error(customer_link: Any) -> None:
    with pytest.raises(TemplateSyntaxError):
        render('{% portal_button customer="cus_x" %}', customer_link.user)


def test_overridden_template_is_used(customer_link: Any, tmp_path: Any) -> None:
    override = tmp_path / "django_stripe_portal"
    override.mkdir()
    (override / "portal_button.html").write_text(
        '<form class="mine" method="post" action="{{ action }}">{% csrf_token %}{{ label }}</form>'
    )
    from django.conf import settings

    templates = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    with override_settings(TEMPLATES=templates):
        html = render('{% portal_button "Billing" %}', customer_link.user)

    assert html.startswith('<form class="mine"')


def test_the_rendered_form_really_opens_the_portal(
    customer_link: Any, portal_api: FakePortalApi
) -> None:
    """Render the button for a real request, then submit its fields with CSRF checks on."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_link.user)
    request = RequestFactory().get("/account/")
    request.user = customer_link.user
    request.COOKIES = {}
    html = Template(
        '{% load stripe_portal %}{% portal_button flow="payment_method_update" %}'
    ).render(Context({"request": request}))
    token = html.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    from django.middleware.csrf import get_token

    client.cookies["csrftoken"] = get_token(request)

    response = client.post(
        "/billing/portal/", {"csrfmiddlewaretoken": token, "flow": "payment_method_update"}
    )

    assert response.status_code == 303
    assert portal_api.sent()["customer"] == CUSTOMER_ID
    assert PortalSession.objects.get().flow_type == "payment_method_update"
