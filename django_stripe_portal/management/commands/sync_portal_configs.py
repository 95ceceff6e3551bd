"""``manage.py sync_portal_configs``: make Stripe's portal configurations match settings,
on the platform or (Connect) on each connected account named by ``--account`` or
``CONNECTED_ACCOUNTS`` (``--all-accounts``), one account's failure not stopping the others."""

from __future__ import annotations

from typing import Any

import stripe
from django.core.management.base import CommandError, CommandParser

from django_stripe_portal.client import api_host, stripe_error_text, unreachable_reason
from django_stripe_portal.conf import get_settings
from django_stripe_portal.configurations.apply import (
    Action,
    Step,
    SyncError,
    apply,
    duplicated_markers,
    list_configurations,
    plan,
    store_unchanged,
)
from django_stripe_portal.configurations.declare import declared_configurations
from django_stripe_portal.configurations.schema import validate_configurations
from django_stripe_portal.management.accounts import add_account_options, chosen_accounts
from django_stripe_portal.management.base import (
    EXIT_COULD_NOT_RUN,
    EXIT_NEEDS_A_PERSON,
    NeedsAPerson,
    PortalCommand,
)

# Exit codes (management/base.py): 1 = --check found a difference; 2 = invalid settings or
# a Stripe error.
EXIT_DRIFT = EXIT_NEEDS_A_PERSON
EXIT_ERROR = EXIT_COULD_NOT_RUN


class Command(PortalCommand):
    help = (
        "Create or update Stripe's customer portal configurations so they match "
        "STRIPE_PORTAL['CONFIGURATIONS']. A run with nothing to change makes no writes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the differences; write nothing."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit 1 if anything differs from the declaration (for CI).",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Deactivate configurations this app created whose key is no longer declared.",
        )
        parser.add_argument("--only", metavar="KEY", help="Limit the run to one key.")
        add_account_options(
            parser,
            account_help="Apply the configurations on this connected account (acct_…) instead "
            "of the platform, through Stripe-Account; repeat for several.",
            all_help="Apply them on every account STRIPE_PORTAL['CONNECTED_ACCOUNTS'] returns.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        conf = get_settings()
        errors = validate_configurations(conf.CONFIGURATIONS)
        if errors:
            raise CommandError(
                "Stripe would reject these declarations; nothing was sent:\n"
                + "\n".join(f"  {error}" for error in errors),
                returncode=EXIT_ERROR,
            )
        declarations = declared_configurations()
        only = options["only"]
        if only is not None and only not in declarations and not options["prune"]:
            raise CommandError(
                f"--only {only!r}: no such key in STRIPE_PORTAL['CONFIGURATIONS'] "
                f"(declared: {', '.join(sorted(declarations)) or 'none'}).",
                returncode=EXIT_ERROR,
            )
        accounts = self._accounts(options)
        if accounts is None:
            self._sync_account("", declarations, options)
            return
        failures: dict[str, CommandError] = {}
        for account in accounts:
            try:
                self._sync_account(account, declarations, options)
            except CommandError as error:
                # Permissions revoked, account disconnected …: the next account still runs.
                failures[account] = error
                self.stderr.write(self.style.ERROR(f"  {account}: {error}"))
            self.stdout.write("")
        self._print_accounts_summary(accounts, failures)
        if failures:
            summary = f"{len(failures)} of {len(accounts)} account(s) not done: " + ", ".join(
                failures
            )
            if all(isinstance(error, NeedsAPerson) for error in failures.values()):
                raise NeedsAPerson(summary)  # only drift (--check): exit 1
            raise CommandError(summary, returncode=EXIT_ERROR)

    def _accounts(self, options: dict[str, Any]) -> list[str] | None:
        """The connected accounts to run on, in order and once each; None: the platform."""
        accounts = chosen_accounts(options, returncode=EXIT_ERROR)
        if accounts == []:
            self.stdout.write("No connected accounts to sync (CONNECTED_ACCOUNTS is empty).")
        return accounts

    def _sync_account(
        self, account: str, declarations: dict[str, Any], options: dict[str, Any]
    ) -> None:
        """One account's run (``""``: the platform); a CommandError says why it stopped."""
        conf = get_settings()
        only = options["only"]
        write = not (options["dry_run"] or options["check"])
        where = f" on {account}" if account else ""
        self.stdout.write(
            f"Portal configurations{where} in {conf.mode_name} mode"
            + ("" if write else " (nothing will be written)")
            + ":"
        )
        try:
            existing = list_configurations(account=account)
        except stripe.APIConnectionError as error:
            flag = "--check" if options["check"] else "--dry-run"
            needs = (
                f" {flag} still reads the configurations from Stripe, so it needs the network too."
                if not write
                else " Run the command again once Stripe can be reached."
            )
            raise CommandError(
                f"Could not reach Stripe at {api_host()} ({unreachable_reason(error)}); "
                f"nothing was changed.{needs}",
                returncode=EXIT_ERROR,
            ) from error
        except stripe.StripeError as error:
            raise CommandError(
                f"Could not list Stripe's portal configurations{where}: "
                f"{stripe_error_text(error)}.{_access_hint(error, account)} Nothing was changed.",
                returncode=EXIT_ERROR,
            ) from error
        self._refuse_other_mode(existing, conf.livemode)
        steps = plan(
            declarations,
            existing,
            livemode=conf.livemode,
            prune=options["prune"],
            only=only,
            account=account,
        )
        if only is not None and not steps:
            raise CommandError(
                f"--only {only!r}: nothing declared or created by this app under that key.",
                returncode=EXIT_ERROR,
            )
        for step in steps:
            self._print_step(step)
        for key, ids in duplicated_markers(existing).items():
            used = next((step.stripe_id for step in steps if step.key == key), None)
            self.stderr.write(
                self.style.WARNING(
                    f"  {key}: {len(ids)} active configurations carry this key's marker "
                    f"({', '.join(ids)}); only {used or 'one'} is kept in sync. "
                    "Deactivate the others in the Dashboard."
                )
            )
        pending = [step for step in steps if step.writes]
        self._print_summary(steps, done=write)
        if options["check"]:
            if pending:
                raise NeedsAPerson(
                    f"{len(pending)} configuration(s) differ from the declaration; "
                    "run sync_portal_configs to apply."
                )
            return
        if not write:
            return
        store_unchanged(steps, livemode=conf.livemode, account=account)
        try:
            apply(pending, livemode=conf.livemode, account=account)
        except SyncError as error:
            raise CommandError(
                self._partial_failure(error, steps), returncode=EXIT_ERROR
            ) from error

    def _refuse_other_mode(self, existing: list[dict[str, Any]], livemode: bool) -> None:
        other = [obj["id"] for obj in existing if bool(obj.get("livemode")) != livemode]
        if other:
            mode = "live" if livemode else "test"
            raise CommandError(
                f"STRIPE_PORTAL says {mode} mode but the API key returned configurations "
                f"of the other mode ({', '.join(other[:3])}…): check API_KEY and LIVEMODE.",
                returncode=EXIT_ERROR,
            )

    def _print_step(self, step: Step) -> None:
        where = f" ({step.stripe_id})" if step.stripe_id else ""
        if step.action is Action.UNCHANGED:
            self.stdout.write(f"  {step.key}{where}: unchanged")
            return
        style = self.style.SUCCESS if step.action is Action.CREATE else self.style.WARNING
        self.stdout.write(style(f"  {step.key}{where}: {step.action.value}"))
        if step.action is Action.CREATE:
            self.stdout.write("      (new configuration, as declared)")
        elif step.action is Action.PRUNE:
            self.stdout.write("      active: True → False (key no longer declared)")
        for change in step.changes:
            self.stdout.write(f"      {change.describe()}")

    def _print_summary(self, steps: list[Step], *, done: bool) -> None:
        counts = {action: sum(step.action is action for step in steps) for action in Action}
        verb = {Action.CREATE: "create", Action.UPDATE: "update", Action.PRUNE: "deactivate"}
        parts = [f"{counts[action]} to {verb[action]}" for action in verb if counts[action]] + [
            f"{counts[Action.UNCHANGED]} unchanged"
        ]
        self.stdout.write(("Applying: " if done else "Would: ") + ", ".join(parts) + ".")

    def _print_accounts_summary(
        self, accounts: list[str], failures: dict[str, CommandError]
    ) -> None:
        drifted = [acct for acct, error in failures.items() if error.returncode == EXIT_DRIFT]
        failed = [acct for acct in failures if acct not in drifted]
        done = len(accounts) - len(failures)
        parts = [f"{done} done"] + ([f"{len(drifted)} differ"] if drifted else [])
        self.stdout.write(f"Accounts: {', '.join(parts)}, {len(failed)} failed.")
        for account in drifted:
            self.stdout.write(self.style.WARNING(f"  {account}: differs from the declaration"))
        for account in failed:
            first_line = str(failures[account]).splitlines()[0]
            self.stdout.write(self.style.ERROR(f"  {account}: failed: {first_line}"))

    def _partial_failure(self, error: SyncError, steps: list[Step]) -> str:
        done = [step.key for step in error.done] + [
            step.key for step in steps if step.action is Action.UNCHANGED
        ]
        return (
            f"{error}\n"
            f"  done: {', '.join(done) or 'none'}\n"
            f"  failed: {error.failed.key}\n"
            f"  not attempted: {', '.join(step.key for step in error.left) or 'none'}\n"
            "The database holds what Stripe holds for the keys done; run the command again "
            "to finish (it picks up where this run stopped)."
        )


def _access_hint(error: stripe.StripeError, account: str) -> str:
    """What a refusal on a connected account usually means."""
    if account and isinstance(error, stripe.PermissionError | stripe.AuthenticationError):
        return (
            f" The platform may have lost access to {account} (the account disconnected, or "
            "the API key lacks Connect permissions); remove it from CONNECTED_ACCOUNTS if so."
        )
    return ""
