"""Writers racing a rebuild, for the PostgreSQL tests of the trigger-kept totals (day totals,
balance totals): each test supplies its writers and its rebuild."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    """`target` started on its own thread and database connection; what it raises lands in
    `errors`, for the main thread to assert on."""

    def run() -> None:
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - surfaced to the main thread
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def write_while_rebuilding(
    writers: list[Callable[[], None]],
    start: threading.Barrier,
    rebuild: Callable[[], int],
    errors: list[BaseException],
) -> list[int]:
    """Start `writers` (each waits on `start`), release them together, and run `rebuild` in a
    loop until they are done; the number of corrections each rebuild made."""
    threads = [in_thread(writer, errors) for writer in writers]
    corrections: list[int] = []
    start.wait(timeout=30)

    def rebuild_while_writing() -> None:
        while any(thread.is_alive() for thread in threads):
            corrections.append(rebuild())

    rebuilder = in_thread(rebuild_while_writing, errors)
    for thread in [*threads, rebuilder]:
        thread.join(timeout=120)
    return corrections
