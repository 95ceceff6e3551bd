"""What every command of the app shares: one exit-code convention, and errors in one line
(a missing setting or key says which, never with a traceback).

Exit codes (docs/settings.md, "Commands and exit codes"):

* 0: done;
* 1 (``EXIT_NEEDS_A_PERSON``): done, but something needs a person: configurations that
  differ (``--check``), stuck or given-up events, events that failed again;
* 2 (``EXIT_COULD_NOT_RUN``): could not do what was asked: a bad option or setting, a
  failed system check, no API key, Stripe unreachable or refusing (argparse's own usage
  errors exit 2 as well).

Commands that read only the database (``uses_stripe_api = False``) run without
``API_KEY``: a monitor's cron often has no Stripe key.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, SystemCheckError

from django_stripe_portal.api_key_check import api_key_not_needed

EXIT_NEEDS_A_PERSON = 1
EXIT_COULD_NOT_RUN = 2


class NeedsAPerson(CommandError):
    """The command did its work, and found something a person must look at (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_NEEDS_A_PERSON)


class PortalCommand(BaseCommand):
    """A command of this app: exit 2 for anything that stopped it, 1 for ``NeedsAPerson``."""

    #: False where the command reads only the database: then it runs without API_KEY.
    uses_stripe_api = True

    def check(self, *args: Any, **kwargs: Any) -> None:
        without_key = contextlib.nullcontext() if self.uses_stripe_api else api_key_not_needed()
        try:
            with without_key:
                super().check(*args, **kwargs)
        except SystemCheckError as error:
            error.returncode = EXIT_COULD_NOT_RUN
            raise

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            output: str | None = super().execute(*args, **options)
        except NeedsAPerson:
            raise
        except CommandError as error:
            error.returncode = EXIT_COULD_NOT_RUN
            raise
        except ImproperlyConfigured as error:  # e.g. no API_KEY, with --skip-checks
            raise CommandError(str(error), returncode=EXIT_COULD_NOT_RUN) from error
        return output
