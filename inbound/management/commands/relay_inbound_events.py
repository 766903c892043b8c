"""`manage.py relay_inbound_events [--poll-seconds S] [--once]`: the webhook outbox relay.

Runs beside the Celery workers (one is enough; two are safe, rows are claimed with SKIP
LOCKED). It publishes each stored inbound event to Celery as soon as the NOTIFY of its commit
arrives, and re-publishes events whose next attempt is due. SIGTERM and SIGINT stop it after
the current round. `--once` runs one round and exits (for scripts and checks).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbound.relay import run_relay
from inbound.services import inbound_events_relay


class Command(BaseCommand):
    help = "Relays stored inbound processor events to Celery as soon as they are committed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=1.0,
            help="Longest wait between rounds when no notification arrives (default 1).",
        )
        parser.add_argument("--once", action="store_true", help="Run one round and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        poll_seconds = options["poll_seconds"]
        if not 0.05 <= poll_seconds <= 60:
            raise CommandError("--poll-seconds must be between 0.05 and 60.")
        if options["once"]:
            self.stdout.write(f"Published {inbound_events_relay()} event(s).")
            return
        stopping = {"requested": False}

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping["requested"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        published = run_relay(poll_seconds=poll_seconds, should_stop=lambda: stopping["requested"])
        self.stdout.write(f"Relay stopped; published {published} event(s).")
