"""tests.settings in task mode on a real engine, as docs/deployment.md configures each:

- ``TASK_ENGINE=db``: django-tasks-db;
- ``rq``, ``rq-simple``: django-tasks-rq on the Redis at ``RQ_URL``, through one connection
  pool per process (``REDIS_CLIENT_KWARGS``; ``RQ_CLIENT_NAME`` names its connections so a
  test can find them) and the app's ``OneTripQueue``; the two differ in the worker command
  only;
- ``celery``: Celery through django-tasks-fennel on the RabbitMQ at ``CELERY_BROKER_URL``.
"""

import os

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.engines.apps.EnginesConfig"]  # noqa: F405
ENGINE = os.environ.get("TASK_ENGINE", "db")
if ENGINE == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif ENGINE in ("rq", "rq-simple"):
    import redis

    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_POOL = redis.ConnectionPool.from_url(
        os.environ.get("RQ_URL", "redis://127.0.0.1:6379/5"),
        client_name=os.environ.get("RQ_CLIENT_NAME") or None,
    )
    RQ_QUEUES = {
        "default": {
            "HOST": RQ_POOL.connection_kwargs["host"],
            "PORT": RQ_POOL.connection_kwargs["port"],
            "DB": RQ_POOL.connection_kwargs["db"],
            "REDIS_CLIENT_KWARGS": {"connection_pool": RQ_POOL},
            "QUEUE_CLASS": "django_stripe_portal.webhooks.rq_queue.OneTripQueue",
        }
    }
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
elif ENGINE == "celery":
    INSTALLED_APPS += ["django_tasks_fennel"]
    CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    TASKS = {"default": {"BACKEND": "django_tasks_fennel.CeleryBackend"}}
else:
    raise RuntimeError(f"TASK_ENGINE must be db, rq, rq-simple or celery, not {ENGINE!r}")
STRIPE_PORTAL = {
    **STRIPE_PORTAL,  # noqa: F405
    "WEBHOOK_PROCESSING": "task",
    "WEBHOOK_RETRY_DELAYS": [1, 1],
    "WEBHOOK_STUCK_AFTER": int(os.environ.get("STUCK_AFTER", "600")),
    # Thin events: the destination's secret, and a local Stripe answering their fetches.
    "EVENT_DESTINATION_SECRETS": ["whsec_destination_tests"],
    "API_BASE": os.environ.get("STRIPE_API_BASE") or None,
}
