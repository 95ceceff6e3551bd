"""The click side of the loop, behind ``stripe_portal:redirect`` and ``stripe_portal:return``,
one job per module:

- ``customers``: who the signed-in user is in Stripe (``CUSTOMER_RESOLVER``, ``link_customer``);
- ``guards``: where a customer goes instead of the portal (``PORTAL_GUARD``);
- ``button_form``: the button's optional fields (flow, subscription, price, locale) → ``flow_data``;
- ``configuration``: which synced portal configuration the session uses;
- ``return_links``: the signed return link and the safe ``return_to``;
- ``sessions``: plan → one Stripe call → save the visit → ``portal_session_created``;
- ``sync_or_async``: one view callable for WSGI and ASGI.
"""
