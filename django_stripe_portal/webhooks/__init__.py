"""Webhook handling behind ``stripe_portal:webhook``, one job per module:

- ``verify``: the ``Stripe-Signature`` check on the raw body;
- ``parse``: the body as an event dict, the mode check, redaction of the session URL;
- ``interpret``: what the event changed for the customer (pure: no database, no Stripe);
- ``linking``: the portal visit a change came from;
- ``store``: exactly-once insert and the row lock, through the database;
- ``dispatch``: state writes and signals, each receiver in its own savepoint;
- ``portal_sessions``: sessions seen in ``billing_portal.session.created``;
- ``process``: the path every delivery, task and replay takes through the above.
"""
