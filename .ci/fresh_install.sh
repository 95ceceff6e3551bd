#!/usr/bin/env bash
# docs/quickstart.md, followed literally in a new virtualenv and a new
# `django-admin startproject`: every command and snippet comes from the page's blocks
# marked <!-- quickstart: NAME --> (.ci/quickstart.py prints them), nothing from a copy.
# Ends with `manage.py check` clean, the tables migrated, a signed webhook delivered and
# the button rendered; then every admin page of the app opens.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
block() { python3 "$repo/.ci/quickstart.py" "$1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

python3 -m venv venv
export PATH="$work/venv/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1
# "a checkout of the repository, here in ./django-stripe-portal"
cp -r "$repo" django-stripe-portal
rm -rf django-stripe-portal/.venv django-stripe-portal/.tox django-stripe-portal/build
echo "== step 1: install"
(block install) | sed 's/^pip install /pip install --quiet /' | bash -euo pipefail
echo "== a new project"
block project > "$work/project.sh"
source "$work/project.sh"  # startproject, then cd into it

echo "== step 2: settings"
block settings >> hostsite/settings.py
# The keys step 2 exports (test-mode shapes; nothing here reaches Stripe).
export STRIPE_SECRET_KEY=sk_test_freshinstall STRIPE_WEBHOOK_SECRETS=whsec_freshinstall
block check | bash -euo pipefail
python manage.py check --fail-level WARNING

echo "== step 3: URLs and tables"
block urls >> hostsite/urls.py
block migrate | bash -euo pipefail
python manage.py check --fail-level WARNING
python manage.py makemigrations --check --dry-run

echo "== step 6: the button"
mkdir -p templates
block button > templates/quickstart_button.html

echo "== step 9: a signed webhook"
answer=$(python manage.py shell -c "$(block webhook)")
echo "$answer"
[ "$(echo "$answer" | tail -n1)" = "200 active" ]

echo "== the button renders for a signed-in user; the admin pages open"
python manage.py shell -c '
from pathlib import Path

from django.apps import apps
from django.contrib.admin import site as admin_site
from django.contrib.auth import get_user_model
from django.template import Engine, RequestContext
from django.test import Client, RequestFactory
from django.urls import reverse

source = Path("templates/quickstart_button.html").read_text()
admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
request = RequestFactory().get("/")
request.user = admin
html = Engine.get_default().from_string(source).render(RequestContext(request))
form = "<form method=\"post\" action=\"" + reverse("stripe_portal:redirect") + "\""
assert html.count(form) == 3, html
assert "Manage billing" in html and "Update card" in html and "Cancel plan" in html, html
assert "csrfmiddlewaretoken" in html, html
print("button: OK")

client = Client(HTTP_HOST="localhost")
client.force_login(admin)
pages = [reverse("admin:index"), reverse("admin:django_stripe_portal_portalsession_activity")]
# Every admin page the app registers (state tables such as AccountAuthorization have none).
for model in apps.get_app_config("django_stripe_portal").get_models():
    if not admin_site.is_registered(model):
        continue
    meta = model._meta
    pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
for url in pages:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    print("200", url)
index = client.get(reverse("admin:index")).content.decode()
assert reverse("admin:django_stripe_portal_portalsession_activity") in index, "no way to Portal activity"
assert client.post(reverse("stripe_portal:webhook"), b"{}", content_type="application/json").status_code == 400
'
echo "fresh install: OK"
