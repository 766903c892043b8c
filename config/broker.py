"""The embedded default's Celery broker: kombu's filesystem transport with atomic messages.

`make run` keeps the production pipeline (worker, beat, relay) without Redis by passing
messages as files under `var/broker/` (kombu's filesystem transport). kombu writes a message
into its final name, so a worker listing the folder at that moment can take the file while
it is still empty and fail to decode it, which stops the worker's consumer. Here a message is
written under a name the consumer ignores and renamed into place, which is atomic on POSIX,
so a consumer only ever sees whole messages. The URL scheme `atomicfs://` selects it.

The exchange tables (which queue a routing key reaches) have the same gap: kombu creates a
table file empty and then writes it, so a publisher routing at that moment read "" and failed.
A new table is written whole under a hidden name and linked into place.

kombu's filesystem transport also keeps its bindings in one state per process, shared by every
connection, and skips writing a binding to the table once that state holds it. A thread
publishing while another thread's first bind was still writing the table (or after the folder
was emptied) found no table, and kombu drops a message nothing routes: the first messages of
a busy start were lost. Here every bind makes sure the table holds it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "atomicfs"


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # kombu expects the folders to exist; a fresh clone's var/ has none of them.
        for folder in {self.data_folder_in, self.data_folder_out}:
            Path(folder).mkdir(parents=True, exist_ok=True)

    # kombu's stubs name this argument differently in the base channel and the filesystem one.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        # The same file name kombu uses (ordered by time, then the queue), so kombu's own
        # consumer reads it; the ".partial" suffix hides it from that consumer until renamed.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to the broker folder") from exc

    def queue_bind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        exchange = exchange or "amq.direct"
        known_to_this_process = self.state.has_binding(queue, exchange, routing_key)
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        if known_to_this_process:  # kombu returned without touching the table on disk
            # kombu returns (key, pattern, queue); its type stubs declare a fourth item.
            key, pattern, bound_queue = self.typeof(exchange).prepare_bind(
                queue, exchange, routing_key, arguments
            )[:3]
            self._queue_bind(exchange, key, pattern, bound_queue)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str | None, queue: str) -> None:
        table: Path = self._exchange_file(exchange)  # type: ignore[attr-defined]
        if not table.exists():
            Path(self.control_folder).mkdir(parents=True, exist_ok=True)
            binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            whole = table.with_name(f".{table.name}.{uuid.uuid4().hex}")
            try:
                whole.write_bytes(str_to_bytes(dumps([binding])))
                os.link(whole, table)  # creates the table only if absent, and whole
                return
            except FileExistsError:
                pass  # another process made it first: add this binding by kombu's locked update
            except OSError as exc:
                raise ChannelError(f"Cannot create the exchange table {table}") from exc
            finally:
                whole.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel
    driver_type = "filesystem"
    driver_name = "atomicfs"


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
