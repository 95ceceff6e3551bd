"""System checks for ``STRIPE_PORTAL``, run by ``manage.py check``.

Ids (documented in docs/settings.md):
E001 settings not a dict / unknown keys, E002 API_KEY missing or ill-formed,
W003 live key with DEBUG=True, W004 no WEBHOOK_SECRETS, E005 WEBHOOK_SECRETS ill-formed,
E006 dotted path does not import, E007 RETURN_URL cannot become an absolute URL,
E008 WEBHOOK_PROCESSING unknown, E009 DEFAULT_CONFIGURATION names no declared key,
E010 a CONFIGURATIONS body Stripe would reject, E011 GUARD_URLS has an unknown key,
E012 CONNECT_WEBHOOK_SECRETS ill-formed, W013 a secret in both WEBHOOK_SECRETS and
CONNECT_WEBHOOK_SECRETS, W014 the stripe SDK prints response bodies (portal session URLs)
to stderr, W015 task mode with a tasks backend that never runs a task,
E016 a database the app writes to cannot run its one-statement writes (MySQL/MariaDB,
Oracle, SQLite before 3.35), W017 a database backend this app is not tested on,
E018 a number, duration, list or optional string of the wrong type (``setting_types``),
E019 ACTIVE_STATUSES not a list of Stripe's subscription statuses,
E020 a SESSION_AFTER_EXPIRATION body Stripe would reject, E021 STRIPE_CONTEXT ill-formed,
E030 EVENT_DESTINATION_SECRETS ill-formed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse

from django_stripe_portal.api_key_check import check_api_key
from django_stripe_portal.conf import (
    DEFAULTS,
    IMPORT_STRINGS,
    SETTING_NAME,
    WEBHOOK_PROCESSING_MODES,
    PortalSettings,
    unknown_keys,
    unknown_keys_message,
    user_settings,
)
from django_stripe_portal.configurations.schema import (
    validate_after_expiration,
    validate_configurations,
)
from django_stripe_portal.exceptions import AccountResolverError
from django_stripe_portal.log_redaction import sdk_prints_response_bodies
from django_stripe_portal.portal.accounts import checked_stripe_context
from django_stripe_portal.portal.guards import GUARD_KEYS, checked_guard_urls
from django_stripe_portal.setting_types import check_setting_types
from django_stripe_portal.webhooks.tasks import HAS_TASKS_FRAMEWORK, MISSING_TASKS_FRAMEWORK

WEBHOOK_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9+/=_-]+$")


def _error(msg: str, check_id: str, hint: str | None = None) -> Error:
    return Error(msg, hint=hint, id=f"stripe_portal.{check_id}")


def _warning(msg: str, check_id: str, hint: str | None = None) -> Warning:
    return Warning(msg, hint=hint, id=f"stripe_portal.{check_id}")


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    try:
        written = user_settings()
    except ImproperlyConfigured as exc:
        return [_error(str(exc), "E001")]
    messages: list[CheckMessage] = []
    unknown = unknown_keys(written)
    if unknown:
        messages.append(_error(unknown_keys_message(unknown), "E001"))
    # The known keys are checked even beside an unknown one: every problem at once.
    conf = PortalSettings(written, ignore_unknown=True)
    messages += check_api_key(conf)
    messages += _check_webhook_secrets(conf)
    messages += _check_import_strings(conf)
    messages += _check_return_url(conf)
    messages += _check_processing(conf)
    messages += _check_default_configuration(conf)
    messages += _check_configurations(conf)
    messages += _check_guard_urls(conf)
    messages += _check_task_backend(conf)
    messages += _check_connect_webhook_secrets(conf)
    messages += _check_event_destination_secrets(conf)
    messages += check_setting_types(conf, DEFAULTS)
    messages += _check_session_after_expiration(conf)
    messages += _check_stripe_context(conf)
    return messages


def _check_webhook_secrets(conf: PortalSettings) -> Iterable[CheckMessage]:
    secrets = conf.WEBHOOK_SECRETS
    if isinstance(secrets, str) or not isinstance(secrets, list | tuple):
        yield _error(
            f"{SETTING_NAME}['WEBHOOK_SECRETS'] must be a list of signing secrets.",
            "E005",
            hint="e.g. os.environ.get('STRIPE_WEBHOOK_SECRETS', '').split() "
            "(several secrets separated by spaces).",
        )
        return
    if not secrets:
        yield _warning(
            f"{SETTING_NAME}['WEBHOOK_SECRETS'] is empty: every webhook will be refused.",
            "W004",
            hint="Add the endpoint's signing secret (whsec_…); "
            "manage.py setup_stripe_webhook prints one.",
        )
    for index, secret in enumerate(secrets):
        if not isinstance(secret, str) or not WEBHOOK_SECRET_RE.match(secret):
            yield _error(
                f"{SETTING_NAME}['WEBHOOK_SECRETS'][{index}] is not a webhook signing secret.",
                "E005",
                hint="Signing secrets start with whsec_ "
                "(Dashboard → Webhooks, or `stripe listen`).",
            )


def _check_import_strings(conf: PortalSettings) -> Iterable[CheckMessage]:
    for name in IMPORT_STRINGS:
        try:
            func = conf.imported(name)
        except ImproperlyConfigured as exc:
            yield _error(str(exc), "E006", hint="Give a dotted path to a function.")
            continue
        if func is not None and not callable(func):
            yield _error(f"{SETTING_NAME}['{name}'] does not name a callable.", "E006")


def _check_return_url(conf: PortalSettings) -> Iterable[CheckMessage]:
    value = conf.RETURN_URL
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
        except ValueError:  # "https://[": falls through to the error below
            parts = urlsplit("//")
        if parts.scheme in ("http", "https") and parts.netloc:
            return
        if not parts.scheme and not value.startswith("//") and "/" not in value:
            # Neither a path nor a URL: read as a URL name, which must reverse.
            try:
                reverse(value)
                return
            except NoReverseMatch:
                yield _error(
                    f"{SETTING_NAME}['RETURN_URL'] = {value!r}: no URL pattern is named "
                    f"{value!r} (or it needs arguments), so it cannot become the URL "
                    "users come back to.",
                    "E007",
                    hint=f"Add name={value!r} to the path() of the page users should come "
                    "back to, or set RETURN_URL to a path of your site such as '/'.",
                )
                return
    yield _error(
        f"{SETTING_NAME}['RETURN_URL'] = {value!r} cannot become an absolute URL.",
        "E007",
        hint="Use a path that starts with a single '/' (e.g. '/'), the name of one of your "
        "URL patterns, or an absolute https:// URL.",
    )


def _check_processing(conf: PortalSettings) -> Iterable[CheckMessage]:
    if conf.WEBHOOK_PROCESSING == "task" and not HAS_TASKS_FRAMEWORK:
        yield _error(MISSING_TASKS_FRAMEWORK, "E008")
    if conf.WEBHOOK_PROCESSING not in WEBHOOK_PROCESSING_MODES:
        yield _error(
            f"{SETTING_NAME}['WEBHOOK_PROCESSING'] = {conf.WEBHOOK_PROCESSING!r} is not one of "
            + ", ".join(repr(m) for m in WEBHOOK_PROCESSING_MODES)
            + ".",
            "E008",
        )


def _check_default_configuration(conf: PortalSettings) -> Iterable[CheckMessage]:
    default = conf.DEFAULT_CONFIGURATION
    declared = conf.CONFIGURATIONS if isinstance(conf.CONFIGURATIONS, dict) else {}
    if default is not None and (not isinstance(default, str) or default not in declared):
        yield _error(
            f"{SETTING_NAME}['DEFAULT_CONFIGURATION'] = {default!r} is not a key of "
            f"{SETTING_NAME}['CONFIGURATIONS'].",
            "E009",
            hint="Declared keys: " + (", ".join(sorted(declared)) or "none"),
        )


def _check_configurations(conf: PortalSettings) -> Iterable[CheckMessage]:
    for error in validate_configurations(conf.CONFIGURATIONS):
        yield _error(
            f"{SETTING_NAME}: {error}",
            "E010",
            hint="Stripe would reject this body (rules of the installed stripe package's "
            "API version); see https://docs.stripe.com/api/customer_portal/configurations/create",
        )


def _check_guard_urls(conf: PortalSettings) -> Iterable[CheckMessage]:
    try:
        checked_guard_urls(conf.GUARD_URLS)
    except ImproperlyConfigured as exc:
        yield _error(
            str(exc),
            "E011",
            hint="Keys are subscription statuses (" + ", ".join(GUARD_KEYS[:-2]) + "), "
            "'ended' (every subscription ended) and 'none' (never subscribed).",
        )


#: Tasks backends that accept tasks and never run them.
_NON_RUNNING_BACKENDS = ("DummyBackend",)


def _check_task_backend(conf: PortalSettings) -> Iterable[CheckMessage]:
    """Read from ``settings.TASKS`` as written: no backend is imported, no query made."""
    if conf.WEBHOOK_PROCESSING != "task":
        return
    tasks = getattr(django_settings, "TASKS", None) or {}
    backend = str((tasks.get("default") or {}).get("BACKEND", ""))
    if backend.rsplit(".", 1)[-1] in _NON_RUNNING_BACKENDS:
        yield _warning(
            f"{SETTING_NAME}['WEBHOOK_PROCESSING'] is 'task' but TASKS['default'] is "
            f"{backend}, which never runs a task: every webhook would stay pending.",
            "W015",
            hint="Use a backend with a worker, e.g. django_tasks_db.DatabaseBackend "
            "(manage.py db_worker); see docs/deployment.md, 'Choosing a task engine'.",
        )


def _check_connect_webhook_secrets(conf: PortalSettings) -> Iterable[CheckMessage]:
    secrets = conf.CONNECT_WEBHOOK_SECRETS
    if isinstance(secrets, str) or not isinstance(secrets, list | tuple):
        yield _error(
            f"{SETTING_NAME}['CONNECT_WEBHOOK_SECRETS'] must be a list of signing secrets.",
            "E012",
            hint="e.g. env.list('STRIPE_CONNECT_WEBHOOK_SECRETS', default=[]).",
        )
        return
    yield from _ill_formed_secrets(
        secrets,
        "CONNECT_WEBHOOK_SECRETS",
        "E012",
        "The Connect endpoint's secret starts with whsec_ "
        "(`manage.py setup_stripe_webhook --connect` prints it).",
    )
    platform = conf.WEBHOOK_SECRETS if isinstance(conf.WEBHOOK_SECRETS, list | tuple) else []
    if set(secrets) & set(platform):
        yield _warning(
            f"A secret is in both {SETTING_NAME}['WEBHOOK_SECRETS'] and "
            "['CONNECT_WEBHOOK_SECRETS']: events signed with it are accepted as either "
            "platform or Connect events.",
            "W013",
            hint="Fine for `stripe listen`, whose one secret signs both kinds. In production "
            "each endpoint has its own secret: the platform endpoint's in WEBHOOK_SECRETS, "
            "the Connect endpoint's in CONNECT_WEBHOOK_SECRETS.",
        )


def _check_event_destination_secrets(conf: PortalSettings) -> Iterable[CheckMessage]:
    """Optional: only a site taking thin events (``stripe_portal:events``) sets them."""
    secrets = conf.EVENT_DESTINATION_SECRETS
    if isinstance(secrets, str) or not isinstance(secrets, list | tuple):
        yield _error(
            f"{SETTING_NAME}['EVENT_DESTINATION_SECRETS'] must be a list of signing secrets.",
            "E030",
            hint="e.g. env.list('STRIPE_EVENT_DESTINATION_SECRETS', default=[]).",
        )
        return
    yield from _ill_formed_secrets(
        secrets,
        "EVENT_DESTINATION_SECRETS",
        "E030",
        "The event destination's secret starts with whsec_ "
        "(`manage.py setup_stripe_webhook --destination` prints it).",
    )


def _ill_formed_secrets(
    secrets: Sequence[Any], setting: str, check_id: str, hint: str
) -> Iterable[CheckMessage]:
    for index, secret in enumerate(secrets):
        if not isinstance(secret, str) or not WEBHOOK_SECRET_RE.match(secret):
            yield _error(
                f"{SETTING_NAME}['{setting}'][{index}] is not a webhook signing secret.",
                check_id,
                hint=hint,
            )


@register(Tags.security)
def check_sdk_console_logging(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The SDK's own stderr printing bypasses ``logging`` and so the URL-redacting filter."""
    if not sdk_prints_response_bodies():
        return []
    return [
        _warning(
            "The stripe SDK prints every API response body to stderr (STRIPE_LOG=debug or "
            "stripe.log = 'debug'), portal session URLs and new webhook signing secrets "
            "included: that output bypasses logging, so the app cannot redact it.",
            "W014",
            hint="Unset STRIPE_LOG and stripe.log. To see the SDK's debug lines, set the "
            "'stripe' logger to DEBUG in LOGGING instead: those lines are redacted.",
        )
    ]


def _check_session_after_expiration(conf: PortalSettings) -> Iterable[CheckMessage]:
    value = conf.SESSION_AFTER_EXPIRATION
    if value is None:
        return
    for problem in validate_after_expiration(value):
        yield _error(
            f"{SETTING_NAME}['SESSION_AFTER_EXPIRATION']{problem}",
            "E020",
            hint="Stripe's after_expiration body for portal sessions, e.g. "
            '{"type": "customer_login"}, or None; see '
            "https://docs.stripe.com/api/customer_portal/sessions/create",
        )


def _check_stripe_context(conf: PortalSettings) -> Iterable[CheckMessage]:
    try:
        checked_stripe_context(conf.STRIPE_CONTEXT, "STRIPE_CONTEXT")
    except AccountResolverError as exc:
        yield _error(str(exc).replace(" Nothing was sent to Stripe.", ""), "E021")
