"""Settings for the test suite: SQLite by default, PostgreSQL with DATABASE_URL."""

from pathlib import Path

import django
import environ

env = environ.Env()
BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///:memory:")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's prepare_threshold, as docs/deployment.md sets it for a direct connection:
    # the app's hot-path statements are then bound on the server and prepared. ``none``
    # is Django's default (nothing prepared, every value bound on the client).
    _threshold = env.str("PG_PREPARE_THRESHOLD", default="0")
    if _threshold.lower() != "none":
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(_threshold)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("SQLITE_TEST_NAME", default=None)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_stripe_portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/accounts/login/"

# Django's own tasks framework from 6.0 on, the django-tasks backport before.
_TASKS_PACKAGE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
# The database engine's tables exist in the test database, for the real-worker tests.
INSTALLED_APPS.append("django_tasks_db")
TASKS = {"default": {"BACKEND": f"{_TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}

# Test-mode placeholders: no test reaches Stripe (every call goes through `responses`).
STRIPE_PORTAL = {
    "API_KEY": "sk_test_tests",
    "WEBHOOK_SECRETS": ["whsec_tests"],
}
