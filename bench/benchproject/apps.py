from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Connects one no-op receiver to every signal the app sends."""

    name = "benchproject"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from benchproject import receivers

        receivers.connect_noop_receivers()
