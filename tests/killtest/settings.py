"""tests.settings plus the blocking receiver; DATABASE_URL names the test database."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.killtest.apps.KillTestConfig"]  # noqa: F405
