"""What the webhooks keep, one job per module:

- ``row_writes``: inserts and upserts in one SQL statement (the hot paths' writes);
- ``subscriptions``: the subscription row, never moved backwards by a late event.

``django_stripe_portal.access`` reads what these write.
"""
