"""Placeholder until this view lands."""

from django.http import HttpRequest, HttpResponse


def portal_redirect(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse(status=501)
