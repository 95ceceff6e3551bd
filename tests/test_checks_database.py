"""The database check: a backend that cannot run the app's one-statement writes is named
by ``manage.py check``, before a webhook meets a SQL error; no query is sent to find out."""

from __future__ import annotations

import sqlite3

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.db import connections

from django_stripe_portal.database_checks import check_databases


def test_the_test_database_passes_without_a_query() -> None:
    # No django_db mark: pytest-django refuses every connection here, so a query fails it.
    assert check_databases() == []


@pytest.mark.parametrize(("vendor", "name"), [("mysql", "MySQL/MariaDB"), ("oracle", "Oracle")])
def test_mysql_mariadb_and_oracle_are_errors(
    monkeypatch: pytest.MonkeyPatch, vendor: str, name: str
) -> None:
    monkeypatch.setattr(connections["default"], "vendor", vendor)
    (message,) = check_databases()
    assert isinstance(message, Error)
    assert message.id == "stripe_portal.E016"
    assert f"DATABASES['default'] is {name}" in message.msg
    assert "ON CONFLICT" in message.msg and "PostgreSQL" in (message.hint or "")


def test_sqlite_before_3_35_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections["default"], "vendor", "sqlite")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    (message,) = check_databases()
    assert message.id == "stripe_portal.E016"
    assert "SQLite 3.31.1" in message.msg and "3.35" in message.msg


def test_sqlite_3_35_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections["default"], "vendor", "sqlite")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 35, 0))
    assert check_databases() == []


def test_an_untested_backend_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections["default"], "vendor", "microsoft")
    (message,) = check_databases()
    assert isinstance(message, Warning)
    assert message.id == "stripe_portal.W017"
    assert "'microsoft'" in message.msg


def test_manage_py_check_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management.base import SystemCheckError

    monkeypatch.setattr(connections["default"], "vendor", "mysql")
    with pytest.raises(SystemCheckError, match=r"stripe_portal\.E016"):
        call_command("check")
