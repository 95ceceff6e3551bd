"""tests.settings in task mode on a real engine: ``TASK_ENGINE`` is ``db``
(django-tasks-db) or ``rq`` (django-tasks-rq on the Redis at ``RQ_URL``)."""

import os

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.engines.apps.EnginesConfig"]  # noqa: F405
ENGINE = os.environ.get("TASK_ENGINE", "db")
if ENGINE == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
else:
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": os.environ.get("RQ_URL", "redis://127.0.0.1:6379/5")}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
STRIPE_PORTAL = {
    **STRIPE_PORTAL,  # noqa: F405
    "WEBHOOK_PROCESSING": "task",
    "WEBHOOK_RETRY_DELAYS": [1, 1],
    "WEBHOOK_STUCK_AFTER": int(os.environ.get("STUCK_AFTER", "600")),
    # Thin events: the destination's secret, and a local Stripe answering their fetches.
    "EVENT_DESTINATION_SECRETS": ["whsec_destination_tests"],
    "API_BASE": os.environ.get("STRIPE_API_BASE") or None,
}
