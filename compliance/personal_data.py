"""The personal-data registry: where every app keeps personal data and how to export or erase it.

`compliance` imports no app. Each app tells the registry, from its `AppConfig.ready()`:
- `classify(model, fields)` for every model it owns: each concrete field is personal,
  pseudonymous, not personal, or a retained ledger field (tests/compliance fail when a model
  gains a field nobody classified);
- `register(...)` for a model that holds a subject's data: how to find the subject's rows,
  export them, and erase them (delete, anonymise, or retain with a legal basis and a period);
- `register_subject_resolver(...)` to turn a request's reference (`cus_...`, `usr_...`, an
  email) into a `Subject`;
- `register_processor(...)` for an outside system that must be told (Stripe customer
  deletion, Plaid item removal), run before local erasure because it needs the ids erasure
  removes.

Like every registry here it is a dict behind `register()`, filled at start-up and read-only
once anything reads it (the first read freezes it; a late registration raises).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from django.db import models

JSONValue = Any  # a JSON-serialisable value (str, int, bool, None, list, dict)


class FieldKind(StrEnum):
    """How a field relates to a person."""

    PERSONAL = "personal"  # names, emails, phones, addresses, free text about a person
    PSEUDONYMOUS = "pseudonymous"  # ids and keyed hashes that single out a person only with a key
    NOT_PERSONAL = "not_personal"  # amounts, states, times, configuration
    RETAINED = "retained"  # a ledger field the law requires us to keep (with its basis)


# One-letter names for the classification tables the apps write.
P, PS, N, R = (
    FieldKind.PERSONAL,
    FieldKind.PSEUDONYMOUS,
    FieldKind.NOT_PERSONAL,
    FieldKind.RETAINED,
)


class Erasure(StrEnum):
    """What erasure does to a subject's rows of one model."""

    DELETE = "delete"
    ANONYMISE = "anonymise"
    RETAIN = "retain"  # kept for a legal obligation, stripped of the person, until an end date


class SubjectKind(StrEnum):
    CUSTOMER = "customer"  # a merchant's customer (never logs in)
    USER = "user"  # a person with a Ledgerline login


class SubjectNotFoundError(LookupError):
    """No record matches the reference: the request cannot name a subject."""


class ProcessorPendingError(Exception):
    """A processor could not be told now (outage); the step is retried later, with backoff."""


@dataclass(frozen=True)
class Subject:
    """Whom a data request is about, as the registry's handlers find their rows.

    A customer subject is every customer record of one merchant sharing the email (or the one
    `cus_` record when it has none); a user subject is one login. `emails` lets handlers find
    the person in raw payloads (webhook bodies, stored API answers) and invitations.
    """

    kind: SubjectKind
    merchant_id: str = ""  # mer_..., customers only
    customer_ids: tuple[str, ...] = ()
    user_id: str = ""
    emails: tuple[str, ...] = ()
    # What names the subject inside raw payloads (emails, names, processor ids): filled by
    # the resolver while the records still hold them, so apps that store other apps' raw
    # data (webhook bodies, API answers) can find the subject without importing those apps.
    identifiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == SubjectKind.CUSTOMER and not (self.merchant_id and self.customer_ids):
            raise ValueError("a customer subject needs its merchant and customer ids")
        if self.kind == SubjectKind.USER and not self.user_id:
            raise ValueError("a user subject needs its user id")

    @property
    def reference(self) -> str:
        """The pseudonymous id that names the subject in the log and on the certificate."""
        return self.user_id if self.kind == SubjectKind.USER else self.customer_ids[0]


@dataclass(frozen=True)
class Retention:
    """Why and how long rows are kept after erasure (e.g. 5 years for tax / AML records)."""

    basis: str
    years: int

    def until(self, start: date | datetime) -> date:
        day = start.date() if isinstance(start, datetime) else start
        try:
            return day.replace(year=day.year + self.years)
        except ValueError:  # 29 February into a common year
            return day.replace(year=day.year + self.years, day=28)


@dataclass(frozen=True)
class ErasureResult:
    """What one handler did for one subject (counts only; never the erased values)."""

    deleted: int = 0
    anonymised: int = 0
    retained: int = 0
    retained_until: date | None = None


@dataclass(frozen=True)
class Classification:
    model: type[models.Model]
    fields: Mapping[str, FieldKind]
    note: str

    @property
    def label(self) -> str:
        return str(self.model._meta.label)


@dataclass(frozen=True)
class Handler:
    """How to find, export and erase one model's rows for a subject."""

    model: type[models.Model]
    subjects: frozenset[SubjectKind]
    erasure: Erasure
    find: Callable[[Subject], models.QuerySet[Any]]
    export: Callable[[Any], dict[str, JSONValue]]
    erase: Callable[[Subject], ErasureResult]
    retention: Retention | None
    order: int

    @property
    def label(self) -> str:
        return str(self.model._meta.label)

    def rows(self, subject: Subject) -> Iterator[dict[str, JSONValue]]:
        """The subject's rows, exported one by one (streamed, never all in memory)."""
        for row in self.find(subject).iterator(chunk_size=500):
            yield self.export(row)


@dataclass(frozen=True)
class Processor:
    """An outside system told of an erasure; `notify` returns the processor's confirmation ids."""

    name: str
    subjects: frozenset[SubjectKind]
    notify: Callable[[Subject], list[str]]


@dataclass(frozen=True)
class Holds:
    """Legal holds in force: retention leaves these merchants' and customers' rows alone."""

    merchants: frozenset[str] = frozenset()
    customers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RetentionCategory:
    """A kind of record retention can act on: `select(cutoff, holds)` finds the rows older
    than the cutoff and not under a hold; `apply(rows)` deletes or strips them, returning a
    count. A policy in settings.RETENTION_POLICIES gives a category its age."""

    name: str
    description: str
    select: Callable[[datetime, Holds], models.QuerySet[Any]]
    apply: Callable[[models.QuerySet[Any]], int]


@dataclass
class _Registry:
    classifications: dict[str, Classification] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    resolvers: dict[SubjectKind, Callable[[str, str], Subject]] = field(default_factory=dict)
    processors: dict[str, Processor] = field(default_factory=dict)
    retention: dict[str, RetentionCategory] = field(default_factory=dict)
    frozen: bool = False

    def writable(self) -> _Registry:
        if self.frozen:
            raise RuntimeError("the personal-data registry is read-only once it has been read")
        return self

    def readable(self) -> _Registry:
        self.frozen = True
        return self


_registry = _Registry()


def _concrete_fields(model: type[models.Model]) -> set[str]:
    return {f.name for f in model._meta.concrete_fields}


def classify(model: type[models.Model], fields: Mapping[str, FieldKind], *, note: str = "") -> None:
    """Classify every concrete field of `model`; a missing or unknown field name raises."""
    registry = _registry.writable()
    label = str(model._meta.label)
    if label in registry.classifications:
        raise ValueError(f"{label} is already classified")
    names = _concrete_fields(model)
    unknown = set(fields) - names
    missing = names - set(fields)
    if unknown or missing:
        raise ValueError(
            f"{label}: classify exactly its fields (unknown {sorted(unknown)}, "
            f"missing {sorted(missing)})"
        )
    registry.classifications[label] = Classification(
        model=model, fields=MappingProxyType(dict(fields)), note=note
    )


def register(
    model: type[models.Model],
    *,
    subjects: Iterable[SubjectKind],
    erasure: Erasure,
    find: Callable[[Subject], models.QuerySet[Any]],
    export: Callable[[Any], dict[str, JSONValue]],
    erase: Callable[[Subject], ErasureResult],
    retention: Retention | None = None,
    order: int = 100,
) -> None:
    """Say how to find, export and erase a subject's rows of `model` (classified first).

    `order` sorts erasure: lower runs first (a row whose erasure reads another's must run
    before that one is erased).
    """
    registry = _registry.writable()
    label = str(model._meta.label)
    if label not in registry.classifications:
        raise ValueError(f"classify {label} before registering its handler")
    if label in registry.handlers:
        raise ValueError(f"{label} already has a personal-data handler")
    if (erasure == Erasure.RETAIN) != (retention is not None):
        raise ValueError(f"{label}: a retained model states its retention, and only it")
    registry.handlers[label] = Handler(
        model=model,
        subjects=frozenset(subjects),
        erasure=erasure,
        find=find,
        export=export,
        erase=erase,
        retention=retention,
        order=order,
    )


def register_subject_resolver(kind: SubjectKind, resolve: Callable[[str, str], Subject]) -> None:
    """`resolve(merchant_id, reference)` -> Subject, or SubjectNotFoundError."""
    registry = _registry.writable()
    if kind in registry.resolvers:
        raise ValueError(f"a {kind} subject resolver is already registered")
    registry.resolvers[kind] = resolve


def register_processor(
    name: str, *, subjects: Iterable[SubjectKind], notify: Callable[[Subject], list[str]]
) -> None:
    """An outside system to tell of an erasure. `notify` must be idempotent (it is retried
    after an outage, raising ProcessorPendingError) and return the confirmation ids."""
    registry = _registry.writable()
    if name in registry.processors:
        raise ValueError(f"processor {name!r} is already registered")
    registry.processors[name] = Processor(name=name, subjects=frozenset(subjects), notify=notify)


def register_retention(
    name: str,
    *,
    description: str,
    select: Callable[[datetime, Holds], models.QuerySet[Any]],
    apply: Callable[[models.QuerySet[Any]], int],
) -> None:
    """A category of records retention policies can name (`app.what`, e.g.
    `payments.refunded_payments`)."""
    registry = _registry.writable()
    if name in registry.retention:
        raise ValueError(f"retention category {name!r} is already registered")
    registry.retention[name] = RetentionCategory(
        name=name, description=description, select=select, apply=apply
    )


# --- Reading (freezes the registry) ------------------------------------------------------------


def classifications() -> Mapping[str, Classification]:
    return MappingProxyType(_registry.readable().classifications)


def handlers(kind: SubjectKind) -> list[Handler]:
    """The handlers for a kind of subject, in erasure order."""
    found = [h for h in _registry.readable().handlers.values() if kind in h.subjects]
    return sorted(found, key=lambda h: (h.order, h.label))


def handler(label: str) -> Handler:
    return _registry.readable().handlers[label]


def processors(kind: SubjectKind) -> list[Processor]:
    return [p for p in _registry.readable().processors.values() if kind in p.subjects]


def processor(name: str) -> Processor:
    return _registry.readable().processors[name]


def retention_categories() -> Mapping[str, RetentionCategory]:
    return MappingProxyType(_registry.readable().retention)


def subject_resolve(kind: SubjectKind, *, merchant_id: str, reference: str) -> Subject:
    """The subject a reference names (`cus_`/email for customers, `usr_`/email for users)."""
    resolver = _registry.readable().resolvers.get(kind)
    if resolver is None:
        raise SubjectNotFoundError(f"no app resolves {kind} subjects")
    reference = reference.strip()
    # Ids and addresses are printable and short; anything else names nobody (and PostgreSQL
    # refuses a NUL byte in a query parameter outright).
    if not reference.isprintable() or len(reference) > 254:
        raise SubjectNotFoundError("name the subject by a public id or an email address")
    return resolver(merchant_id, reference)


# --- Helpers for the apps' handlers -----------------------------------------------------------


def iso(value: datetime | date | None) -> str | None:
    """A time for an export document."""
    return value.isoformat() if value is not None else None


def emails_in(value: JSONValue, emails: Iterable[str]) -> bool:
    """True when any of `emails` appears (case-insensitively) anywhere in a JSON value."""
    wanted = {e.lower() for e in emails if e}
    if not wanted:
        return False
    text = str(value).lower()
    return any(e in text for e in wanted)


def mentions(field: str, needles: Iterable[str]) -> models.Q:
    """A filter for rows whose JSON or text `field` contains any of `needles`
    (case-insensitive); matches nothing when there are none."""
    found = models.Q(pk__in=[])
    for needle in needles:
        found |= models.Q(**{f"{field}__icontains": needle})
    return found


REDACTED = "[erased]"


def redact_json(value: JSONValue, needles: Iterable[str]) -> JSONValue:
    """`value` with every string that contains one of `needles` (case-insensitive) replaced
    by "[erased]", and every string under a key that names a person (`email`, `name`, `phone`,
    `address`, `line1`...) too, however deep. Keys and structure are kept, so a replayed
    answer or a stored event stays well formed."""
    lowered = [n.lower() for n in needles if n]

    def walk(node: JSONValue, personal_key: bool) -> JSONValue:
        if isinstance(node, dict):
            return {k: walk(v, personal_key or _personal_key(str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, personal_key) for v in node]
        if (
            isinstance(node, str)
            and node
            and (personal_key or any(n in node.lower() for n in lowered))
        ):
            return REDACTED
        return node

    return walk(value, False)


_PERSONAL_KEYS = frozenset(
    {
        "email",
        "receipt_email",
        "name",
        "full_name",
        "phone",
        "address",
        "billing_details",
        "shipping",
        "line1",
        "line2",
        "city",
        "postal_code",
        "state",
        "description",
        "legal_name",
    }
)


def redact_rows(
    rows: models.QuerySet[Any], field: str, needles: Iterable[str], *, also_save: Iterable[str] = ()
) -> int:
    """`redact_json` the JSON `field` of each row in place, row by row (flat memory); returns
    how many rows were rewritten."""
    needles = tuple(needles)
    count = 0
    for row in rows.only("pk", field).iterator(chunk_size=500):
        setattr(row, field, redact_json(getattr(row, field), needles))
        row.save(update_fields=[field, *also_save])
        count += 1
    return count


def _personal_key(key: str) -> bool:
    return key.lower() in _PERSONAL_KEYS
