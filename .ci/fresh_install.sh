#!/usr/bin/env bash
# `pip install .` into a new virtualenv, add the app to a new `django-admin startproject`,
# then migrate, check, and open every admin page of the app as a superuser.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$repo"
cd "$work"
"$work/venv/bin/django-admin" startproject hostsite
cd hostsite
cat >> hostsite/settings.py <<'PY'

INSTALLED_APPS += ["django_stripe_portal"]
STRIPE_PORTAL = {
    "API_KEY": "sk_test_freshinstall",
    "WEBHOOK_SECRETS": ["whsec_freshinstall"],
}
PY
python3 - hostsite/urls.py <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
text = text.replace("from django.urls import path", "from django.urls import include, path")
text = text.replace(
    "path('admin/', admin.site.urls),",
    "path('admin/', admin.site.urls),\n    path('billing/', include('django_stripe_portal.urls')),",
).replace(
    'path("admin/", admin.site.urls),',
    'path("admin/", admin.site.urls),\n    path("billing/", include("django_stripe_portal.urls")),',
)
assert "django_stripe_portal.urls" in text, text
open(path, "w").write(text)
PY
py="$work/venv/bin/python"
"$py" manage.py migrate --verbosity 0
"$py" manage.py check --fail-level WARNING
"$py" manage.py makemigrations --check --dry-run
"$py" manage.py shell -c '
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
client = Client(HTTP_HOST="localhost")
client.force_login(admin)
pages = [reverse("admin:index"), reverse("admin:django_stripe_portal_portalsession_activity")]
for model in apps.get_app_config("django_stripe_portal").get_models():
    meta = model._meta
    pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
for url in pages:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    print("200", url)
assert client.post(reverse("stripe_portal:webhook"), b"{}", content_type="application/json").status_code == 400
'
echo "fresh install: OK"
