"""System checks of the databases the app writes to (E016, W017): said at ``manage.py
check``, not with a SQL error during the first webhook."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections, router

#: ``INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`` (state/row_writes.py,
#: state/subscriptions.py) and the visit subquery inside it (webhooks/linking.py).
SQLITE_MINIMUM = (3, 35, 0)
TESTED_VENDORS = ("postgresql", "sqlite")


@register(Tags.compatibility)
def check_databases(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Say before the first webhook, not with a SQL error during one, that a database
    cannot run the app's writes. Reads the backend's vendor and SQLite's library
    version only: no connection is opened, no query sent."""
    aliases = sorted(
        {
            router.db_for_write(model)
            for model in apps.get_app_config("django_stripe_portal").get_models()
        }
    )
    return [message for alias in aliases for message in _check_database(alias)]


def _check_database(alias: str) -> Iterable[CheckMessage]:
    vendor = connections[alias].vendor
    needs = (
        "django-stripe-portal stores webhooks and subscriptions with single "
        "INSERT … ON CONFLICT … RETURNING statements"
    )
    if vendor == "sqlite" and sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        yield Error(
            f"DATABASES[{alias!r}] is SQLite {sqlite3.sqlite_version}: {needs}, "
            "which SQLite runs from 3.35 on.",
            id="stripe_portal.E016",
            hint="Use a Python built with SQLite 3.35 or later (python -c "
            "'import sqlite3; print(sqlite3.sqlite_version)'), or PostgreSQL.",
        )
    elif vendor in ("mysql", "oracle"):
        name = "MySQL/MariaDB" if vendor == "mysql" else "Oracle"
        yield Error(
            f"DATABASES[{alias!r}] is {name}: {needs}, which it does not run.",
            id="stripe_portal.E016",
            hint="Use PostgreSQL (or SQLite 3.35 or later) for the database this app writes "
            "to; a database router can send only its models there.",
        )
    elif vendor not in TESTED_VENDORS:
        yield Warning(
            f"DATABASES[{alias!r}] uses the {vendor!r} backend, which django-stripe-portal "
            f"is not tested on: {needs}.",
            id="stripe_portal.W017",
            hint="PostgreSQL and SQLite 3.35 or later are tested. If this backend runs "
            "those statements, silence the warning with SILENCED_SYSTEM_CHECKS.",
        )
