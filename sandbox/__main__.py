"""`python -m sandbox`: the same server as `manage.py run_sandbox`, without Django."""

from __future__ import annotations

import argparse
import logging

from sandbox.plaid.provider import DEFAULT_CLIENT_ID, DEFAULT_SECRET
from sandbox.server import serve
from sandbox.stripe.provider import DEFAULT_WEBHOOK_SECRET


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Offline Stripe, Plaid and Braintree stand-in."
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=12111, help="port (0 picks a free one); default 12111"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind; default 127.0.0.1")
    parser.add_argument(
        "--state-file", default=None, help="JSON file keeping state across restarts"
    )
    parser.add_argument("--webhook-url", default=None, help="where Stripe events are POSTed")
    parser.add_argument(
        "--webhook-secret",
        action="append",
        default=None,
        help=f"whsec_ signing secret, repeatable for rotation; default {DEFAULT_WEBHOOK_SECRET}",
    )
    parser.add_argument(
        "--braintree-webhook-url",
        default=None,
        help="where Braintree notifications (bt_signature / bt_payload) are POSTed",
    )
    parser.add_argument(
        "--plaid-client-id",
        default=DEFAULT_CLIENT_ID,
        help=f"client_id Plaid calls must send; default {DEFAULT_CLIENT_ID}",
    )
    parser.add_argument(
        "--plaid-secret",
        default=DEFAULT_SECRET,
        help=f"secret Plaid calls must send; default {DEFAULT_SECRET}",
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(message)s")
    serve(
        port=args.port,
        host=args.host,
        state_file=args.state_file,
        webhook_url=args.webhook_url,
        webhook_secrets=args.webhook_secret or [DEFAULT_WEBHOOK_SECRET],
        plaid_client_id=args.plaid_client_id,
        plaid_secret=args.plaid_secret,
        braintree_webhook_url=args.braintree_webhook_url,
        announce=lambda line: print(line, flush=True),  # noqa: T201 (the process's one output line)
    )


if __name__ == "__main__":
    main()
