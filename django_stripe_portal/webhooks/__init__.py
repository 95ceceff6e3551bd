"""Webhook handling behind ``stripe_portal:webhook``, one job per module:

- ``verify``: the ``Stripe-Signature`` check on the raw body;
- ``parse``: the body as an event dict, the mode check, redaction of the session URL;
- ``payload``: reading Stripe objects (ids, times, subscription fields), pure;
- ``accept``: parse → mode check → interpret → redact, the steps a delivery and a listed
  event share;
- ``interpret``: what the event changed for the customer (pure: no database, no Stripe);
- ``linking``: the portal visit a change came from;
- ``store``: exactly-once storage and the row lock, through the database;
- ``state_writes``: the subscription or portal-session row an event writes;
- ``dispatch``: the signals, each receiver in its own savepoint;
- ``receive``: a delivery stored once, then dispatched (sync) or enqueued (task);
- ``process``: a stored event dispatched under its row lock (task, replay, redelivery);
- ``tasks``: task mode's tasks and their enqueue (public path ``django_stripe_portal.tasks``);
- ``retries``: task mode's schedule after a failure, and when an event has given up;
- ``recovery``: stuck and due events taken up again (``manage.py recover_stripe_events``);
- ``health``: the figures a monitor reads (``manage.py check_stripe_webhooks``);
- ``retention``: a retention offer accepted (``customer.discount.created`` after an offer);
- ``catch_up``: events Stripe's Events API lists that were never delivered, received as
  deliveries (``manage.py fetch_stripe_events``);
- ``event_listing``: one account's ``GET /v1/events``, page by page (``Stripe-Account``
  for a connected account).
"""
