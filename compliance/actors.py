"""Who did something, named only by a pseudonymous public id so an erasure never touches the log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ActorKind:
    """The closed set of actor kinds an audit entry may name."""

    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"
    WEBHOOK = "webhook"
    ANONYMOUS = "anonymous"

    ALL = frozenset({USER, API_KEY, SYSTEM, WEBHOOK, ANONYMOUS})


@dataclass(frozen=True)
class Actor:
    """An actor of an audit entry: a kind and a public id (never an email or a name)."""

    kind: str
    id: str

    def __post_init__(self) -> None:
        if self.kind not in ActorKind.ALL:
            raise ValueError(f"unknown audit actor kind {self.kind!r}")
        if self.kind == ActorKind.ANONYMOUS and self.id:
            raise ValueError("an anonymous actor has no id")
        if self.kind != ActorKind.ANONYMOUS and not self.id:
            raise ValueError(f"a {self.kind} actor needs an id")
        # Emails are personal data: a pseudonymous id is what keeps the log erasure-proof.
        if "@" in self.id or len(self.id) > 64:
            raise ValueError("audit actor ids are pseudonymous public ids of at most 64 characters")

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        """The user's `public_id` (`usr_...`); duck-typed so `compliance` never imports accounts."""
        return cls(kind=ActorKind.USER, id=str(user.public_id))

    @classmethod
    def for_api_key(cls, public_id: str) -> Actor:
        return cls(kind=ActorKind.API_KEY, id=public_id)

    @classmethod
    def system(cls, name: str) -> Actor:
        """A task or command, by a stable name such as `retention.sweep`."""
        return cls(kind=ActorKind.SYSTEM, id=name)

    @classmethod
    def webhook(cls, provider: str) -> Actor:
        """A processor's webhook (`stripe`, `plaid`)."""
        return cls(kind=ActorKind.WEBHOOK, id=provider)

    @classmethod
    def anonymous(cls) -> Actor:
        """Nobody logged in, e.g. a failed login or a customer on a public page."""
        return cls(kind=ActorKind.ANONYMOUS, id="")

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind
