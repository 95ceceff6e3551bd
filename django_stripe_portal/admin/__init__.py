"""Admin pages, one module per page; Stripe's record is shown, never edited here:

- ``records``: what every page shares (read-only, estimated counts, exact id search);
- ``events``: webhook events with their processing state, and the replay action;
- ``sessions``: portal visits with the changes linked to each;
- ``activity_page`` and its ``charts``: the "Portal activity" page;
- ``at_risk_page``: the "Customers at risk" page;
- ``subscriptions``, ``configurations``, ``customers``: the other tables.
"""

from django_stripe_portal.admin import (  # noqa: F401  (importing registers the pages)
    configurations,
    customers,
    events,
    sessions,
    subscriptions,
)
