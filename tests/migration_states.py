"""Tests of data migrations: the schema taken back to an older migration, rows written
through its historical models, then forwards again (Django's own ``MigrationExecutor``,
on whichever database the suite uses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

APP = "django_stripe_portal"


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate to ``targets``; the historical app registry there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_newest() -> Any:
    """Every app at its newest migration, as the tests expect to find the schema."""
    return migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def back_at(migration: str) -> Iterator[Any]:
    """For a fixture: the app registry at ``migration`` of this app, then, after the
    test, the newest migrations again for the tests that follow."""
    yield migrate([(APP, migration)])
    migrate_to_newest()
