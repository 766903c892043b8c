"""Registry of demo-data seeders that `seed_demo` runs after it creates merchants and logins.

Accounts sits below the apps that own payments and bank data, so it cannot seed them itself;
each app registers a seeder in its AppConfig.ready() instead (the same inversion the data
request registry uses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from accounts.models import Merchant

# A seeder takes the demo merchants by slug and returns lines to print; it must be idempotent.
DemoSeeder = Callable[[Mapping[str, Merchant]], list[str]]

_SEEDERS: list[DemoSeeder] = []


def register_demo_seeder(seeder: DemoSeeder) -> None:
    if seeder not in _SEEDERS:
        _SEEDERS.append(seeder)


def demo_seeders() -> list[DemoSeeder]:
    return list(_SEEDERS)
