from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("billing/", include("django_stripe_portal.urls")),
    path("account/", lambda request: HttpResponse("account"), name="account"),
    path("accounts/login/", lambda request: HttpResponse("login"), name="login"),
]
