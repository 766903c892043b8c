"""The relay process: hands stored inbound events to Celery as soon as they are committed.

A webhook request only writes the event and its outbox row (and, on PostgreSQL, a NOTIFY in
the same statement); this loop LISTENs for that notification, drains the outbox through
`inbound.services.outbox.inbound_outbox_relay` and sweeps events whose next attempt is due. It waits
at most `poll_seconds` between rounds, so a lost notification, or a database without NOTIFY,
only delays an event by that much. Beat runs the same relay every few seconds as a fallback
for when this process is not running.

Written by hand because no maintained library relays a transactional outbox to Celery over
LISTEN/NOTIFY; the loop is small and every decision in it is the pipeline's own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connection

from inbound.services.outbox import (
    OUTBOX_CHANNEL,
    RELAY_BATCH,
    inbound_events_redispatch_due,
    inbound_outbox_relay,
)

logger = logging.getLogger(__name__)

DUE_SWEEP_SECONDS = 5.0
# How long a busy relay lets events gather between rounds: adds at most this much latency,
# and at a few hundred events a second turns one Celery message per event into several.
LINGER_SECONDS = 0.02


class _Listener:
    """A dedicated autocommit connection LISTENing on the outbox channel (PostgreSQL only).

    Any failure of this connection only costs latency: it is dropped, the relay falls back to
    polling for that round, and the next round connects again.
    """

    def __init__(self) -> None:
        self._conn: Any = None

    def listen(self) -> None:
        if self._conn is not None or connection.vendor != "postgresql":
            return
        try:
            raw = connection.get_new_connection(connection.get_connection_params())
            raw.autocommit = True
            raw.execute(f"LISTEN {OUTBOX_CHANNEL}")
        except Exception as exc:  # noqa: BLE001 - polling still relays everything
            logger.warning("Relay cannot LISTEN (%s); polling instead", type(exc).__name__)
            return
        self._conn = raw

    def wait(self, seconds: float) -> None:
        """Return on a notification or after `seconds`; without a listener, just sleep."""
        if self._conn is None:
            time.sleep(seconds)
            return
        try:
            for _ in self._conn.notifies(timeout=seconds, stop_after=1):
                break
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            logger.warning("Relay lost its LISTEN connection (%s)", type(exc).__name__)
            self.close()
            return
        self.skip_pending()

    def skip_pending(self) -> None:
        """Read notifications already here: the next drain serves them all at once."""
        if self._conn is None:
            return
        try:
            for _ in self._conn.notifies(timeout=0.0):
                pass
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            logger.warning("Relay lost its LISTEN connection (%s)", type(exc).__name__)
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # Being discarded: a failure to close it changes nothing.
            with contextlib.suppress(Exception):
                conn.close()


def run_relay(*, poll_seconds: float, should_stop: Callable[[], bool]) -> int:
    """Relay until `should_stop()`; returns how many events it published in all."""
    listener = _Listener()
    published = 0
    next_due_sweep = 0.0
    try:
        while not should_stop():
            try:
                # LISTEN first, so that a NOTIFY committed during the drain is not missed.
                listener.listen()
                outbox = inbound_outbox_relay()
                published += outbox.published
                broker_ok = outbox.broker_ok
                if broker_ok and time.monotonic() >= next_due_sweep:
                    due = inbound_events_redispatch_due()
                    published += due.published
                    broker_ok = due.broker_ok
                    next_due_sweep = time.monotonic() + DUE_SWEEP_SECONDS
            except DatabaseError as exc:
                logger.warning("Relay round failed (%s); retrying", type(exc).__name__)
                listener.close()
                connection.close()
                time.sleep(poll_seconds)
                continue
            if not broker_ok:
                # The broker refused: wait a full period rather than retry on every NOTIFY.
                time.sleep(poll_seconds)
            elif outbox.published >= RELAY_BATCH:
                continue  # more are waiting
            elif outbox.published:
                # Events are flowing: let a few more commit so that the next message carries
                # several (Nagle's idea); a lone event still leaves at once, on its NOTIFY.
                listener.skip_pending()
                time.sleep(LINGER_SECONDS)
            else:
                listener.wait(poll_seconds)
    finally:
        listener.close()
        connection.close()
    return published
