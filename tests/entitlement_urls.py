"""A URLconf with views gated by a feature (``entitlement_required``), sync and async."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from django_stripe_portal.access import entitlement_required


@entitlement_required("pro-reports")
def reports(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the pro reports")


@entitlement_required("pro-reports")
async def reports_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the pro reports, async")


urlpatterns = [
    path("billing/", include("django_stripe_portal.urls")),
    path("reports/", reports),
    path("reports-async/", reports_async),
    path("pricing/", lambda request: HttpResponse("pricing"), name="pricing"),
    path("accounts/login/", lambda request: HttpResponse("login"), name="login"),
]
