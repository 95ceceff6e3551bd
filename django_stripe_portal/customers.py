"""Public path of the customer lookup (``CUSTOMER_RESOLVER``'s default and ``link_customer``);
the code lives in :mod:`django_stripe_portal.portal.customers`."""

from django_stripe_portal.portal.customers import link_customer, linked_customer

__all__ = ["link_customer", "linked_customer"]
