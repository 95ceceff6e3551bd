"""The complete Stripe customer-portal loop for Django."""

__version__ = "0.1.0"
