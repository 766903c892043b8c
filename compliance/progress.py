"""Progress bars for long commands: shown on a terminal, silent in CI and in pipes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def progress_bar(*, total: int | None, unit: str, desc: str) -> Iterator[Callable[[int], None]]:
    """A callback advancing a bar (with rate and time left), or a no-op when not a terminal."""
    if not interactive():
        yield lambda _count: None
        return
    with tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True) as bar:

        def advance(count: int) -> None:
            bar.update(count)

        yield advance
