"""`make bench [BENCH_ARGS="audit ..."]`: run one benchmark suite, or all of them in turn.

Each suite is a module `bench/<name>.py` exposing `run(argv)`; it reports medians and ratios,
since this machine is shared and noisy.
"""

from __future__ import annotations

import importlib
import os
import sys

SUITES = (
    "audit",
    "payments",
    "payouts",
    "webhooks",
    "embedded",
    "erasure",
    "processors",
    "overview",
    "routing",
)


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    names = [argv[0]] if argv and argv[0] in SUITES else list(SUITES)
    rest = argv[1:] if argv and argv[0] in SUITES else argv
    ran = 0
    for name in names:
        try:
            suite = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"bench {name}: not built yet, skipped")  # noqa: T201
            continue
        print(f"=== bench {name}")  # noqa: T201
        suite.run(rest)
        ran += 1
    if ran == 0:
        print("no benchmark suite ran", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
