"""Bring the whole demo up in one process: ``make demo`` runs this.

Offline (no ``STRIPE_SECRET_KEY``): start the Stripe stand-in, migrate, serve
the site, sync the portal configuration to the stand-in, seed the demo user
(whose subscription arrives by webhook), then print the URL and the logins.
With real test keys: the same, minus the stand-in and the seed's subscription.

    python example_project/run_demo.py [--port 8000] [--standin-port 12111] [--fresh]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socketserver
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The checkout's package, also when it is not pip-installed (``make demo`` installs it).
sys.path.insert(1, str(HERE.parent))


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="the site (0: any free port)")
    parser.add_argument("--standin-port", type=int, default=12111, help="0: any free port")
    parser.add_argument(
        "--data-dir", type=Path, default=HERE / ".run", help="database and stand-in state"
    )
    parser.add_argument("--fresh", action="store_true", help="forget earlier runs' data first")
    parser.add_argument(
        "--delivery",
        choices=("snapshot", "thin", "both"),
        default=os.environ.get("DEMO_DELIVERY", "snapshot"),
        help="offline: how the stand-in delivers events: snapshot webhooks, thin events "
        "(an event destination), or both at once (Stripe's migration path)",
    )
    return parser.parse_args()


def _read_dotenv() -> None:
    """``example_project/.env``, as the settings read it, so the mode is the same."""
    import environ  # type: ignore[import-untyped]

    if (HERE / ".env").is_file():
        environ.Env.read_env(HERE / ".env")


def _start_site(host: str, port: int) -> Any:
    """Django's development server (with static files) in a thread, bound before it serves."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
    from django.core.wsgi import get_wsgi_application

    server_class = type("ThreadedWSGIServer", (socketserver.ThreadingMixIn, WSGIServer), {})
    httpd = server_class((host, port), WSGIRequestHandler, ipv6=False)
    httpd.daemon_threads = True
    httpd.set_app(StaticFilesHandler(get_wsgi_application()))
    threading.Thread(target=httpd.serve_forever, name="demo-site", daemon=True).start()
    return httpd


def _site_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _port_taken(what: str, port: int, exc: OSError) -> str:
    return (
        f"Cannot start {what} on port {port}: {exc.strerror}. Is the demo already running? "
        "Stop it, or choose other ports with --port / --standin-port."
    )


def main() -> None:
    args = _parse_args()
    _read_dotenv()
    offline = not os.environ.get("STRIPE_SECRET_KEY")
    if args.fresh and args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DEMO_DATA_DIR"] = str(args.data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"  # also when a test runner set another

    standin = None
    if offline:
        from stripe_standin import start_standin

        try:
            standin = start_standin(
                host=args.host,
                port=args.standin_port,
                webhook_secret="whsec_offlinedemo",
                state_path=args.data_dir / "standin.json",
                delivery=args.delivery,
            )
        except OSError as exc:
            raise SystemExit(_port_taken("the Stripe stand-in", args.standin_port, exc)) from exc
        os.environ["STRIPE_STANDIN_URL"] = standin.url

    import django
    from django.core.management import call_command, get_commands

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    try:
        httpd = _start_site(args.host, args.port)
    except OSError as exc:
        raise SystemExit(_port_taken("the site", args.port, exc)) from exc
    site = f"http://{args.host}:{httpd.server_address[1]}"
    if standin is not None:
        standin.webhooks.url = f"{site}/billing/webhook/"
        standin.thin.url = f"{site}/billing/events/"
    if not _site_answers(f"{site}/"):
        raise SystemExit(f"The site did not answer on {site}/")

    if offline and "sync_portal_configs" in get_commands():
        call_command("sync_portal_configs")
        call_command("sync_portal_configs", all_accounts=True)  # the merchant's (Connect)
    call_command("seed_demo", no_subscription=not offline)

    print(
        f"\n  Demo ready: {site}/\n"
        f"  Log in as demo / demo-password (customer) or admin / admin-password (admin:"
        f" {site}/admin/)\n"
        + (
            "  or shopper / shopper-password (a merchant's customer, billed on the merchant's"
            " connected account)\n"
            if offline
            else ""
        )
        + (
            f"  Stripe stand-in (offline, not Stripe): {standin.url}\n"
            if standin
            else "  Stripe test mode: run `stripe listen --forward-to "
            f"{site.replace('127.0.0.1', 'localhost')}/billing/webhook/`\n"
        )
        + "  Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        if standin is not None:
            standin.stop()


if __name__ == "__main__":
    main()
