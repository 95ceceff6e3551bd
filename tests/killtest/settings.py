"""tests.settings plus the blocking receiver; DATABASE_URL names the test database, and
STRIPE_API_BASE (the catch-up kill test) a local stand-in of Stripe's API."""

import os

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.killtest.apps.KillTestConfig"]  # noqa: F405
STRIPE_PORTAL = {**STRIPE_PORTAL, "API_BASE": os.environ.get("STRIPE_API_BASE") or None}  # noqa: F405
