"""``stripe_portal:return``: where the portal sends the user back.

No login is required: the site session may have expired while the user was in
the portal. The signed token is the only credential; anything wrong with it ends
at ``RETURN_URL`` with nothing recorded.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_GET

from django_stripe_portal.models import PortalSession
from django_stripe_portal.portal.return_links import (
    default_return_url,
    read_return_key,
    return_to_or_default,
)
from django_stripe_portal.portal.sessions import send_logged
from django_stripe_portal.settled_weeks import forget_settled_visit
from django_stripe_portal.signals import portal_session_returned


@login_not_required
@require_GET
def portal_return(request: HttpRequest, token: str) -> HttpResponse:
    """Record the first return of a visit, then send the user where the button said."""
    return_key = read_return_key(token)
    portal_session = (
        PortalSession.objects.filter(return_key=return_key).first() if return_key else None
    )
    if portal_session is None:
        return HttpResponseRedirect(default_return_url())
    if portal_session.returned_at is None:
        returned_at = timezone.now()
        first_return = PortalSession.objects.filter(
            pk=portal_session.pk, returned_at__isnull=True
        ).update(returned_at=returned_at)
        if first_return:  # a concurrent second click lost the race: no second signal
            portal_session.returned_at = returned_at
            forget_settled_visit(portal_session.created_at)
            send_logged(portal_session_returned, portal_session=portal_session, event=None, data={})
    # Checked again: the row may predate a change of ALLOWED_RETURN_HOSTS.
    return HttpResponseRedirect(return_to_or_default(request, portal_session.return_to))
