from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The example SaaS: its pages, templates and the ``seed_demo`` command."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
