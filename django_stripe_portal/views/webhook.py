"""Placeholder until this view lands."""

from django.http import HttpRequest, HttpResponse


def stripe_webhook(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)
