"""Settings of the bench servers, chosen by environment variables so that one
project serves every target:

- ``BENCH_DB``: ``sqlite`` (``BENCH_DB_NAME`` is a file path) or ``postgres``
  (``BENCH_DB_NAME`` is a database on 127.0.0.1:5432, user postgres).
- ``BENCH_PROCESSING``: ``sync`` or ``task`` (``STRIPE_PORTAL['WEBHOOK_PROCESSING']``).
- ``BENCH_COUNT_SQL``: ``1`` adds a middleware that reports the SQL statements of
  each request in the ``X-Bench-SQL`` response header (counting pass only).
- ``BENCH_STRIPE_API``: the address of the stub of Stripe's API.
- ``BENCH_TASK_ENGINE``: where "task" mode's enqueue goes: ``discard`` (the default:
  accepted and forgotten, only the request path is timed), ``db`` (django-tasks-db's
  ``DatabaseBackend``, a row written in the event row's transaction), ``dbafter`` (the
  same table written after the event row's commit, as a backend elsewhere would be),
  ``rq`` and ``rqsimple`` (django-tasks-rq's ``RQBackend`` on the Redis at
  ``BENCH_RQ_URL`` through one connection pool per process and the app's
  ``OneTripQueue``, as docs/deployment.md configures it; the two differ in the worker
  only), ``rqstock`` (the same pool with django-rq's own queue class: three round trips
  per enqueue), ``rqurl`` (django-rq's plain ``URL`` setting: a new connection per
  enqueue) or ``celery`` (django-tasks-fennel's
  ``CeleryBackend`` on the RabbitMQ at ``BENCH_CELERY_URL``).
- ``BENCH_RECEIVED_LOG``: a file that a receiver of ``webhook_received`` appends
  ``<event id> <time.time()>`` to for every event it sees (end-to-end latency);
  ``BENCH_COMMITTED_LOG``: the same, written once the dispatch's transaction committed.
- ``BENCH_STUCK_AFTER``: ``WEBHOOK_STUCK_AFTER`` (seconds) for the recovery sweep.
- ``BENCH_PG_PREPARE_THRESHOLD``: PostgreSQL's ``OPTIONS["prepare_threshold"]``, 5 unless
  set; ``none`` for Django's default (see ``_postgres_options``).
"""

from __future__ import annotations

import os
from typing import Any

import django

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "benchproject.urls"
WSGI_APPLICATION = "benchproject.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

WEBHOOK_SECRET = "whsec_bench"


def _sqlite_cache_pragma(megabytes: str | None) -> str:
    """An experiment only (``BENCH_SQLITE_CACHE_MB``): SQLite's page cache is 2 MB by default."""
    return f"; PRAGMA cache_size=-{int(megabytes) * 1024}" if megabytes else ""


def _postgres_options(threshold: str) -> dict[str, Any]:
    """``BENCH_PG_PREPARE_THRESHOLD``: psycopg's ``prepare_threshold``, 5 (psycopg's own
    default) unless set, as docs/deployment.md sets it for a direct connection; ``none`` is
    Django's default (nothing prepared). Only server-side-binding cursors prepare: the
    app's hot-path statements, not the floors' (Django's client-binding cursor)."""
    if threshold.lower() == "none":
        return {}
    return {"prepare_threshold": int(threshold)}


_engine = os.environ.get("BENCH_DB", "sqlite")
_name = os.environ.get("BENCH_DB_NAME", "bench/out/bench.sqlite3")
_database: dict[str, Any]
if _engine == "postgres":
    _database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _name,
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        # Persistent connections, as a production deployment runs them.
        "CONN_MAX_AGE": 600,
        "OPTIONS": _postgres_options(os.environ.get("BENCH_PG_PREPARE_THRESHOLD", "5")),
    }
elif _engine == "sqlite":
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _name,
        # Persistent, as for PostgreSQL: closing the last connection to a WAL database
        # checkpoints and deletes the WAL, which would be timed on every request.
        "CONN_MAX_AGE": 600,
        # WAL is set on the file when it is created (bench/djtool.py); IMMEDIATE
        # transactions spare two writer processes the lock-upgrade deadlock.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            # WAL's recommended durability level, the same for every target.
            "init_command": "PRAGMA synchronous=NORMAL"
            + _sqlite_cache_pragma(os.environ.get("BENCH_SQLITE_CACHE_MB")),
        },
    }
else:
    raise RuntimeError(f"BENCH_DB must be sqlite or postgres, not {_engine!r}")
DATABASES = {"default": _database}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_stripe_portal",
    "benchproject",
    # Its table is in every bench database (the template is migrated with it), so
    # that any target can use the database engine.
    "django_tasks_db",
]
if django.VERSION < (6, 0):
    INSTALLED_APPS.insert(0, "django_tasks")  # the backport's app, before Django 6.0

# A typical site's stack: both targets pass through the same middleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
if os.environ.get("BENCH_COUNT_SQL") == "1":
    MIDDLEWARE.insert(0, "benchproject.middleware.CountSQLMiddleware")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

SESSION_ENGINE = "django.contrib.sessions.backends.db"

STRIPE_API = os.environ.get("BENCH_STRIPE_API", "http://127.0.0.1:12111")

STRIPE_PORTAL = {
    "API_KEY": "sk_test_bench",
    "WEBHOOK_SECRETS": [WEBHOOK_SECRET],
    "API_BASE": STRIPE_API,
    "WEBHOOK_PROCESSING": os.environ.get("BENCH_PROCESSING", "sync"),
    "RETURN_URL": "/",
    # The stub never fails; a retry would hide a second call.
    "MAX_NETWORK_RETRIES": 0,
    "WEBHOOK_STUCK_AFTER": int(os.environ.get("BENCH_STUCK_AFTER", "600")),
}

# "task" mode: the request path only enqueues. By default the bench backend hands the
# task to nobody (as if to an external broker) so that nothing but the ingest is
# timed; ``BENCH_TASK_ENGINE`` chooses a real engine instead.
TASK_ENGINE = os.environ.get("BENCH_TASK_ENGINE", "discard")
RQ_URL = os.environ.get("BENCH_RQ_URL", "redis://127.0.0.1:6379/14")
if TASK_ENGINE == "discard":
    TASKS = {"default": {"BACKEND": "benchproject.tasks_backend.DiscardingBackend"}}
elif TASK_ENGINE == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASK_ENGINE == "dbafter":
    TASKS = {"default": {"BACKEND": "benchproject.tasks_backend.DatabaseAfterCommitBackend"}}
elif TASK_ENGINE in ("rq", "rqsimple", "rqstock"):
    import redis

    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_POOL = redis.ConnectionPool.from_url(RQ_URL)
    RQ_QUEUES = {
        "default": {
            "HOST": RQ_POOL.connection_kwargs["host"],
            "PORT": RQ_POOL.connection_kwargs["port"],
            "DB": RQ_POOL.connection_kwargs["db"],
            "REDIS_CLIENT_KWARGS": {"connection_pool": RQ_POOL},
        }
    }
    if TASK_ENGINE != "rqstock":
        RQ_QUEUES["default"]["QUEUE_CLASS"] = "django_stripe_portal.webhooks.rq_queue.OneTripQueue"
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
elif TASK_ENGINE == "rqurl":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": RQ_URL}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
elif TASK_ENGINE == "celery":
    INSTALLED_APPS += ["django_tasks_fennel"]
    CELERY_BROKER_URL = os.environ.get("BENCH_CELERY_URL", "amqp://guest:guest@127.0.0.1:5672//")
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    TASKS = {"default": {"BACKEND": "django_tasks_fennel.CeleryBackend"}}
else:
    raise RuntimeError(f"BENCH_TASK_ENGINE {TASK_ENGINE!r} is not one of those listed above")
RECEIVED_LOG = os.environ.get("BENCH_RECEIVED_LOG", "")
COMMITTED_LOG = os.environ.get("BENCH_COMMITTED_LOG", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
