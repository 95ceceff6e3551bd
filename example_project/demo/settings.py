"""Settings of the example project, read from the environment (or ``example_project/.env``).

Two modes, chosen by ``STRIPE_SECRET_KEY``:

* unset: **offline**. The app talks to the local Stripe stand-in
  (``STRIPE_STANDIN_URL``, default http://127.0.0.1:12111) with a fake test key,
  and the stand-in signs its webhooks with a fixed demo secret.
* set (``sk_test_…``): **Stripe test mode**. Webhooks need ``STRIPE_WEBHOOK_SECRETS``
  (``stripe listen --forward-to localhost:8000/billing/webhook/`` prints one).

See ``.env.example`` for every variable.
"""

from __future__ import annotations

from pathlib import Path

import environ

from demo.portal_configurations import (
    OFFLINE_FEEDBACK_OPTIONS,
    OFFLINE_PRODUCTS,
    OFFLINE_RETENTION_COUPON,
    declared_configurations,
)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DATA_DIR = Path(env.str("DEMO_DATA_DIR", default=str(BASE_DIR / ".run")))

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="example-project-only-not-a-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'demo.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The site, the webhook deliveries and the demo's commands write at the same time:
    # take the write lock when a transaction starts and wait for it, instead of failing
    # with "database is locked" when a read transaction tries to become a write one.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_stripe_portal",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo.views.demo_context",
            ]
        },
    }
]

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "home"

# --- Stripe ---------------------------------------------------------------------------

STRIPE_OFFLINE = not env.str("STRIPE_SECRET_KEY", default="")
STRIPE_STANDIN_URL = env.str("STRIPE_STANDIN_URL", default="http://127.0.0.1:12111")

#: The offline demo's fixed values. Both are fake: the stand-in accepts any test
#: key, and the webhook secret is shared with the stand-in only.
OFFLINE_API_KEY = "sk_test_offlinedemo"
OFFLINE_WEBHOOK_SECRET = "whsec_offlinedemo"
#: The stand-in signs its connected account's events as a Connect endpoint would.
OFFLINE_CONNECT_WEBHOOK_SECRET = "whsec_offlinedemoconnect"
#: The stand-in signs thin notifications as an event destination would (``run_demo.py
#: --delivery thin`` or ``both``).
OFFLINE_EVENT_DESTINATION_SECRET = "whsec_offlinedemothin"
#: The stand-in's connected account ("Ada's Bakery", stripe_standin/accounts.py).
OFFLINE_MERCHANT_ACCOUNT = "acct_1StandinBakery01"

#: Offline catalogue (see stripe_standin/state.py): price → plan name.
_OFFLINE_PLAN_NAMES = {
    "price_demo_basic": "Basic",
    "price_demo_pro": "Pro",
    "price_demo_pro_yearly": "Pro yearly",
}

if STRIPE_OFFLINE:
    _api_key, _webhook_secrets = OFFLINE_API_KEY, [OFFLINE_WEBHOOK_SECRET]
    _connect_secrets = [OFFLINE_CONNECT_WEBHOOK_SECRET]
    _destination_secrets = [OFFLINE_EVENT_DESTINATION_SECRET]
    DEMO_MERCHANT_ACCOUNT = env.str("DEMO_MERCHANT_ACCOUNT", default=OFFLINE_MERCHANT_ACCOUNT)
    _api_base: str | None = STRIPE_STANDIN_URL
    _products: dict[str, list[str]] = OFFLINE_PRODUCTS
    PLAN_NAMES: dict[str, str] = _OFFLINE_PLAN_NAMES
    _feedback_options: list[str] = OFFLINE_FEEDBACK_OPTIONS
    _retention_coupon: str | None = OFFLINE_RETENTION_COUPON
else:
    # e.g. PORTAL_FEEDBACK_OPTIONS=bfo_1,bfo_2 (made in the Dashboard), RETENTION_COUPON=WINBACK20
    _feedback_options = env.list("PORTAL_FEEDBACK_OPTIONS", default=[])
    _retention_coupon = env.str("RETENTION_COUPON", default=None)
    _api_key = env.str("STRIPE_SECRET_KEY")
    _webhook_secrets = env.list("STRIPE_WEBHOOK_SECRETS", default=[])
    # Connect (optional): a connected account of the test platform, and the Connect
    # endpoint's secret (`stripe listen --forward-connect-to …` prints one).
    _connect_secrets = env.list("STRIPE_CONNECT_WEBHOOK_SECRETS", default=[])
    # Thin events (optional): `manage.py setup_stripe_webhook --destination` prints one.
    _destination_secrets = env.list("STRIPE_EVENT_DESTINATION_SECRETS", default=[])
    DEMO_MERCHANT_ACCOUNT = env.str("DEMO_MERCHANT_ACCOUNT", default="")
    _api_base = None
    # e.g. PORTAL_PRODUCTS=prod_A=price_1;price_2,prod_B=price_3
    _products = {
        product: prices.split(";")
        for product, prices in env.dict("PORTAL_PRODUCTS", default={}).items()
    }
    # e.g. PLAN_NAMES=price_1=Basic,price_3=Pro
    PLAN_NAMES = env.dict("PLAN_NAMES", default={})

#: How the account page names the features (Stripe Entitlements lookup keys) it lists.
FEATURE_NAMES = {"basic-reports": "Basic reports", "pro-reports": "Pro reports"}

#: The price the seed command subscribes the demo customer to (looked up by lookup_key).
DEMO_PRICE_LOOKUP_KEY = env.str("DEMO_PRICE_LOOKUP_KEY", default="demo_basic_monthly")

STRIPE_PORTAL = {
    "API_KEY": _api_key,
    "WEBHOOK_SECRETS": _webhook_secrets,
    "API_BASE": _api_base,
    "CONFIGURATIONS": declared_configurations(_products, _feedback_options),
    # Offered in the "Cancel plan" deep link; RETENTION_RESOLVER could pick one per customer.
    "RETENTION_COUPON": _retention_coupon,
    "DEFAULT_CONFIGURATION": "default",
    "RETURN_URL": "account",
    "NO_CUSTOMER_URL": "/account/?no-customer=1",
    # A page gated by a feature (entitlement_required) sends those without it here.
    "ENTITLEMENT_REQUIRED_URL": "/account/?needs=pro-reports",
    # Connect: "a merchant's customer" is billed on the merchant's account.
    "ACCOUNT_RESOLVER": "demo.connect.merchant_of_request",
    "CONNECTED_ACCOUNTS": "demo.connect.merchant_accounts",
    "CONNECT_WEBHOOK_SECRETS": _connect_secrets,
    # Thin events from an event destination, at /billing/events/.
    "EVENT_DESTINATION_SECRETS": _destination_secrets,
}
DEMO_MERCHANT_NAME = env.str("DEMO_MERCHANT_NAME", default="Ada's Bakery")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_stripe_portal": {"handlers": ["console"], "level": "INFO"},
        "stripe_standin": {"handlers": ["console"], "level": "WARNING"},
    },
}
