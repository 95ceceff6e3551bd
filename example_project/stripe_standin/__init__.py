"""A local stand-in for the few Stripe API endpoints the example project uses.

DEMO DOUBLE, NOT STRIPE. It exists so that the example project runs with no
Stripe account and no network: customers, a small product catalogue,
subscriptions, ``/v1/billing_portal/configurations`` and ``/sessions`` (answers
shaped like Stripe's), and a minimal portal page where a customer can cancel,
switch plan or "update card". Each action changes the stand-in's state and
delivers a signed webhook, as Stripe would. Never point a production site at it.

Connect: ``Stripe-Account`` is honoured for one connected account (see
``stripe_standin.accounts``), its events signed with the Connect endpoint's secret.

Left out on purpose: payments and invoices, session expiry, pausing.
"""

from stripe_standin.server import StandIn, start_standin

__all__ = ["StandIn", "start_standin"]
