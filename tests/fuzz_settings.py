"""tests.settings for the gunicorn fuzz run: Stripe is a stand-in on 127.0.0.1 (its address
in ``FUZZ_STRIPE_API_BASE``), answered at once, never retried."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import STRIPE_PORTAL as _BASE

STRIPE_PORTAL = {
    **_BASE,
    "API_BASE": os.environ["FUZZ_STRIPE_API_BASE"],
    "MAX_NETWORK_RETRIES": 0,
    "ALLOWED_RETURN_HOSTS": ["app.example.com"],
}
