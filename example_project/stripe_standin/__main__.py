"""``python -m stripe_standin --port 12111 --webhook-url http://127.0.0.1:8000/billing/webhook/``"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

from stripe_standin.server import start_standin


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline stand-in for Stripe (demo double).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/billing/webhook/")
    parser.add_argument("--webhook-secret", default="whsec_offlinedemo")
    parser.add_argument("--state", type=Path, default=None, help="JSON file to keep state in")
    parser.add_argument("--delivery", choices=("snapshot", "thin", "both"), default="snapshot")
    parser.add_argument("--thin-url", default="http://127.0.0.1:8000/billing/events/")
    parser.add_argument("--thin-secret", default="whsec_offlinedemothin")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="stand-in: %(message)s")
    standin = start_standin(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_path=args.state,
        delivery=args.delivery,
        thin_url=args.thin_url,
        thin_secret=args.thin_secret,
    )
    print(f"Stripe stand-in on {standin.url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
