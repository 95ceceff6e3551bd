"""Which connected accounts a command runs on (Connect): ``--account acct_…`` (repeatable)
or ``--all-accounts`` (``CONNECTED_ACCOUNTS``), checked before anything is sent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_stripe_portal.conf import get_settings
from django_stripe_portal.management.options import listed
from django_stripe_portal.portal.accounts import ACCOUNT_ID_RE


def add_account_options(parser: CommandParser, *, account_help: str, all_help: str) -> None:
    """``--account`` (repeatable) or ``--all-accounts``, not both."""
    accounts = parser.add_mutually_exclusive_group()
    accounts.add_argument("--account", action="append", metavar="ACCT", help=account_help)
    accounts.add_argument("--all-accounts", action="store_true", help=all_help)


def chosen_accounts(options: dict[str, Any], *, returncode: int = 2) -> list[str] | None:
    """The connected accounts asked for, in order and once each; None: the platform (no
    option given). A value that is not an ``acct_…`` id stops the command: nothing sent."""
    if options.get("all_accounts"):
        source = get_settings().imported("CONNECTED_ACCOUNTS")
        if source is None:
            raise CommandError(
                "--all-accounts needs STRIPE_PORTAL['CONNECTED_ACCOUNTS']: a dotted path to "
                "a function returning the acct_… ids of the accounts to manage.",
                returncode=returncode,
            )
        given = list(source())
        setting = "CONNECTED_ACCOUNTS"
    elif options.get("account"):
        given, setting = listed(options["account"]), "--account"
    else:
        return None
    accounts: list[str] = []
    for value in given:
        if not (isinstance(value, str) and ACCOUNT_ID_RE.fullmatch(value)):
            raise CommandError(
                f"{setting}: {value!r} is not a connected account id (acct_…). Nothing was sent.",
                returncode=returncode,
            )
        if value not in accounts:
            accounts.append(value)
    return accounts
