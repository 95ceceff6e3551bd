"""System checks fire with precise messages on a table of bad settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.test import override_settings

from django_stripe_portal.checks import check_settings

GOOD: dict[str, Any] = {"API_KEY": "sk_test_abc123", "WEBHOOK_SECRETS": ["whsec_abc123"]}


def run_checks(**overrides: Any) -> list[Any]:
    with override_settings(STRIPE_PORTAL={**GOOD, **overrides}):
        return check_settings()


def test_good_settings_pass() -> None:
    assert run_checks() == []


@pytest.mark.parametrize(
    ("overrides", "check_id", "level", "fragment"),
    [
        ({"API_KEY": None}, "stripe_portal.E002", Error, "API_KEY'] is not set"),
        ({"API_KEY": ""}, "stripe_portal.E002", Error, "API_KEY'] is not set"),
        (
            {"API_KEY": "pk_test_abc"},
            "stripe_portal.E002",
            Error,
            "does not look like a Stripe secret key",
        ),
        ({"API_KEY": "sk_test_"}, "stripe_portal.E002", Error, "does not look like"),
        # The quickstart's placeholder, copied as it stands.
        ({"API_KEY": "sk_test_..."}, "stripe_portal.E002", Error, "the placeholder 'sk_test_...'"),
        ({"API_KEY": "sk_test_…"}, "stripe_portal.E002", Error, "is the placeholder"),
        ({"API_KEY": 12345}, "stripe_portal.E002", Error, "does not look like"),
        ({"WEBHOOK_SECRETS": []}, "stripe_portal.W004", Warning, "every webhook will be refused"),
        ({"WEBHOOK_SECRETS": "whsec_abc"}, "stripe_portal.E005", Error, "must be a list"),
        ({"WEBHOOK_SECRETS": ["sk_test_abc"]}, "stripe_portal.E005", Error, "WEBHOOK_SECRETS'][0]"),
        (
            {"CUSTOMER_RESOLVER": "nope.missing"},
            "stripe_portal.E006",
            Error,
            "CUSTOMER_RESOLVER'] = 'nope.missing'",
        ),
        (
            {"CONFIGURATION_RESOLVER": "os.path.nothing"},
            "stripe_portal.E006",
            Error,
            "CONFIGURATION_RESOLVER",
        ),
        ({"PORTAL_GUARD": "os.sep"}, "stripe_portal.E006", Error, "does not name a callable"),
        (
            {"RETURN_URL": "account-page"},
            "stripe_portal.E007",
            Error,
            "no URL pattern is named 'account-page'",
        ),
        (
            {"RETURN_URL": "//evil.example/"},
            "stripe_portal.E007",
            Error,
            "cannot become an absolute URL",
        ),
        (
            {"RETURN_URL": "ftp://x.example/"},
            "stripe_portal.E007",
            Error,
            "cannot become an absolute URL",
        ),
        (
            {"WEBHOOK_PROCESSING": "celery"},
            "stripe_portal.E008",
            Error,
            "'celery' is not one of 'sync', 'task'",
        ),
        ({"DEFAULT_CONFIGURATION": "b2b"}, "stripe_portal.E009", Error, "'b2b' is not a key"),
        (
            {"WEBHOOK_SECRET": ["whsec_a"]},
            "stripe_portal.E001",
            Error,
            "did you mean 'WEBHOOK_SECRETS'",
        ),
    ],
)
def test_bad_settings_are_reported(
    overrides: dict[str, Any], check_id: str, level: type, fragment: str
) -> None:
    messages = run_checks(**overrides)
    matching = [m for m in messages if m.id == check_id]
    assert matching, f"expected {check_id}, got {[(m.id, m.msg) for m in messages]}"
    assert isinstance(matching[0], level)
    assert fragment in matching[0].msg


@pytest.mark.parametrize(
    "return_url", ["/", "/account/", "account", "https://app.example.com/billing"]
)
def test_return_url_forms_that_work(return_url: str) -> None:
    assert [m.id for m in run_checks(RETURN_URL=return_url)] == []


def test_live_key_with_debug_warns() -> None:
    with override_settings(DEBUG=True):
        messages = run_checks(API_KEY="sk_live_abc123")
    assert [m.id for m in messages] == ["stripe_portal.W003"]
    with override_settings(DEBUG=False):
        assert run_checks(API_KEY="sk_live_abc123") == []


@pytest.mark.django_db
def test_checks_run_through_manage_py_check() -> None:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(STRIPE_PORTAL={**GOOD, "API_KEY": "pk_live_nope"}):
        with pytest.raises(SystemCheckError, match=r"stripe_portal\.E002"):
            call_command("check")


def test_a_return_url_name_that_does_not_reverse_names_the_cause_and_the_fix() -> None:
    """The quickstart's ``"RETURN_URL": "account"`` in a project without such a URL."""
    (message,) = run_checks(RETURN_URL="billing-home")
    assert message.id == "stripe_portal.E007"
    assert message.msg == (
        "STRIPE_PORTAL['RETURN_URL'] = 'billing-home': no URL pattern is named "
        "'billing-home' (or it needs arguments), so it cannot become the URL users come back to."
    )
    assert message.hint == (
        "Add name='billing-home' to the path() of the page users should come back to, "
        "or set RETURN_URL to a path of your site such as '/'."
    )


def test_a_return_url_that_is_no_path_nor_url_says_what_to_write() -> None:
    (message,) = run_checks(RETURN_URL="ftp://x.example/")
    assert message.msg == (
        "STRIPE_PORTAL['RETURN_URL'] = 'ftp://x.example/' cannot become an absolute URL."
    )
    assert message.hint == (
        "Use a path that starts with a single '/' (e.g. '/'), the name of one of your "
        "URL patterns, or an absolute https:// URL."
    )


def test_an_unknown_key_does_not_hide_the_other_errors() -> None:
    """E001 and the configuration errors (E010) and the rest are reported together."""
    bad_body = {"features": {"invoice_history": {}}}
    messages = run_checks(
        WEBHOOK_SECRET=["whsec_a"], CONFIGURATIONS={"default": bad_body}, RETURN_URL="nowhere"
    )
    assert [m.id for m in messages] == [
        "stripe_portal.E001",
        "stripe_portal.E007",
        "stripe_portal.E010",
    ]
    assert messages[0].msg.startswith(
        "Unknown key(s) in STRIPE_PORTAL: 'WEBHOOK_SECRET' (did you mean 'WEBHOOK_SECRETS'?)."
    )
    assert messages[2].msg == (
        "STRIPE_PORTAL: CONFIGURATIONS['default'].features.invoice_history.enabled: is required"
    )


def test_guard_urls_are_checked_beside_an_unknown_key() -> None:
    messages = run_checks(TYPO=1, GUARD_URLS={"overdue": "/pay/"})
    assert [m.id for m in messages] == ["stripe_portal.E001", "stripe_portal.E011"]


def test_task_mode_without_a_tasks_framework_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_stripe_portal import checks

    monkeypatch.setattr(checks, "HAS_TASKS_FRAMEWORK", False)
    (message,) = run_checks(WEBHOOK_PROCESSING="task")
    assert message.id == "stripe_portal.E008"
    assert message.msg == (
        "STRIPE_PORTAL['WEBHOOK_PROCESSING'] = 'task' needs Django's tasks framework: "
        "Django 6.0 or later, or on Django 5.2 the backport "
        '(pip install "django-stripe-portal[tasks]").'
    )
    assert run_checks() == []  # "sync" needs no framework


def test_the_app_imports_without_a_tasks_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django 5.2 without the backport: a plain `pip install` must not break the URLs."""
    import importlib.util
    import sys
    from pathlib import Path

    from django.core.exceptions import ImproperlyConfigured

    import django_stripe_portal

    monkeypatch.setitem(sys.modules, "django_tasks", None)  # None: "cannot be imported"
    monkeypatch.setitem(sys.modules, "django.tasks", None)
    path = Path(django_stripe_portal.__file__).parent / "webhooks" / "tasks.py"
    spec = importlib.util.spec_from_file_location("tasks_without_framework", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.HAS_TASKS_FRAMEWORK is False
    with pytest.raises(ImproperlyConfigured, match=r"django-stripe-portal\[tasks\]"):
        module.process_webhook_event.enqueue("evt_1")


@pytest.mark.parametrize(
    "placeholder", ["sk_test_...", "sk_test_…", "sk_live_xxxx", "sk_test_<your key>"]
)
def test_a_placeholder_key_says_to_replace_it(placeholder: str) -> None:
    (error,) = run_checks(API_KEY=placeholder)
    assert error.id == "stripe_portal.E002"
    assert error.hint.startswith("Replace the placeholder with your own key")
    assert "starts with" not in error.hint


def test_a_lower_case_key_gets_a_did_you_mean() -> None:
    messages = run_checks(api_key="sk_test_abc123", webhook_secrets=["whsec_abc123"])
    unknown = [m for m in messages if "Unknown key(s)" in m.msg]
    assert unknown and "'api_key' (did you mean 'API_KEY'?)" in unknown[0].msg
    assert "'webhook_secrets' (did you mean 'WEBHOOK_SECRETS'?)" in unknown[0].msg
