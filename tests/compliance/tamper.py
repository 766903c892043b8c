"""Mutations of a sealed audit log as a database superuser would make them (guards bypassed).

Each mutation changes the log in place and returns the verifier kinds that correctly
describe it; the tests apply them inside a savepoint that is rolled back afterwards.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction

from compliance import db_guards
from compliance.canonical import ENTRY_COLUMNS, entry_hash_from_row, format_time, link_hash
from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal
from compliance.signing import public_key_text, sign
from compliance.verifier import (
    BAD_SIGNATURE,
    EDITED,
    EXTRA,
    MISSING,
    REORDERED,
    TRUNCATED,
)

ENTRY = "compliance_auditentry"
SEAL = "compliance_auditseal"
CHECKPOINT = "compliance_auditcheckpoint"
TEXT_COLUMNS = (
    "actor_id",
    "merchant_public_id",
    "action",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
)


def bypass_guards() -> None:
    """What a superuser or table owner can do: switch the append-only triggers off."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in db_guards.APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    else:
        db_guards.remove(connection)


def restore_guards() -> None:
    """Switch the append-only triggers back on exactly as the migration left them."""
    if connection.vendor != "postgresql":
        db_guards.install(connection)
        return
    triggers = [
        (table, f"{table}_{suffix}")
        for table in db_guards.APPEND_ONLY_TABLES
        for suffix in ("append_only", "no_truncate")
    ]
    with connection.cursor() as cursor:
        for table, trigger in [*triggers, (ENTRY, "compliance_auditentry_stamp")]:
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")


Snapshot = dict[str, tuple[list[str], list[tuple[object, ...]]]]


def snapshot() -> Snapshot:
    """Every row of the audit tables, to put back after a mutation that was committed."""
    saved: Snapshot = {}
    with connection.cursor() as cursor:
        for table in db_guards.APPEND_ONLY_TABLES:
            cursor.execute(f"SELECT * FROM {table}")
            columns = [column.name for column in cursor.description]
            saved[table] = (columns, cursor.fetchall())
    return saved


def restore(saved: Snapshot) -> None:
    """Put the audit tables back exactly as `saved` (ids, stamps and all), guards on again."""
    with transaction.atomic():
        bypass_guards()
        with connection.cursor() as cursor:
            for table, (columns, rows) in saved.items():
                cursor.execute(f"DELETE FROM {table}")
                values = [
                    [json.dumps(v) if isinstance(v, dict) else v for v in row] for row in rows
                ]
                placeholders = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                    values,
                )
        restore_guards()


def _sql(sql: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _flip_text(value: str, rng: random.Random) -> str:
    if not value:
        return "x"
    index = rng.randrange(len(value))
    replacement = "Z" if value[index] != "Z" else "Y"
    return value[:index] + replacement + value[index + 1 :]


def _flip_hex(value: str, rng: random.Random) -> str:
    index = rng.randrange(len(value))
    digit = format((int(value[index], 16) + rng.randint(1, 15)) % 16, "x")
    return value[:index] + digit + value[index + 1 :]


def _entry_hash(entry_id: int) -> str:
    row = AuditEntry.objects.filter(pk=entry_id).values_list(*ENTRY_COLUMNS).get()
    return entry_hash_from_row((row[0], row[1], format_time(row[2]), *row[3:]))


def _sealed_ids() -> list[int]:
    return list(AuditSeal.objects.order_by("position").values_list("entry_id", flat=True))


def _positions() -> list[int]:
    return list(AuditSeal.objects.order_by("position").values_list("position", flat=True))


def edit_entry_field(rng: random.Random) -> set[str]:
    entry = AuditEntry.objects.get(pk=rng.choice(_sealed_ids()))
    column = rng.choice(["created_at", "stamp", "actor_kind", "outcome", "payload", *TEXT_COLUMNS])
    if column == "created_at":
        moved = entry.created_at + timedelta(microseconds=rng.choice([-1, 1, 1000, 3_600_000_000]))
        value: object = connection.ops.adapt_datetimefield_value(moved)
    elif column == "stamp":
        value = (entry.stamp or 0) + rng.choice([-1, 1, 7])
    elif column == "actor_kind":
        value = "system" if entry.actor_kind != "system" else "webhook"
    elif column == "outcome":
        value = "failure" if entry.outcome == "success" else "success"
    elif column == "payload":
        payload = dict(entry.payload)
        key = rng.choice([*payload, "injected"])
        payload[key] = rng.choice([0, 1, "x", None, True, [1]]) if payload.get(key) != 0 else 1
        value = json.dumps(payload)
    else:
        value = _flip_text(getattr(entry, column), rng)
    _sql(f"UPDATE {ENTRY} SET {column} = %s WHERE id = %s", [value, entry.pk])
    return {EDITED}


def edit_seal_field(rng: random.Random) -> set[str]:
    seal = AuditSeal.objects.get(position=rng.choice(_positions()))
    column = rng.choice(["entry_hash", "link_hash", "horizon"])
    value: object = seal.horizon + rng.choice([-1, 1]) if column == "horizon" else None
    if value is None:
        value = _flip_hex(getattr(seal, column), rng)
    _sql(f"UPDATE {SEAL} SET {column} = %s WHERE position = %s", [value, seal.position])
    return {EDITED}


def move_position(rng: random.Random) -> set[str]:
    position = rng.choice(_positions())
    _sql(f"UPDATE {SEAL} SET position = position + 1000000 WHERE position = %s", [position])
    return {MISSING, TRUNCATED}


def delete_entry(rng: random.Random) -> set[str]:
    _sql(f"DELETE FROM {ENTRY} WHERE id = %s", [rng.choice(_sealed_ids())])
    return {MISSING}


def delete_seal(rng: random.Random) -> set[str]:
    _sql(f"DELETE FROM {SEAL} WHERE position = %s", [rng.choice(_positions())])
    # The last position deleted is a cut tail.
    return {MISSING, TRUNCATED}


def swap_entries(rng: random.Random) -> set[str]:
    first, second = rng.sample(_sealed_ids(), 2)
    columns = [c for c in ENTRY_COLUMNS if c != "id"]
    a = AuditEntry.objects.filter(pk=first).values_list(*columns).get()
    b = AuditEntry.objects.filter(pk=second).values_list(*columns).get()
    assignments = ", ".join(f"{column} = %s" for column in columns)
    for pk, values in ((first, b), (second, a)):
        row = list(values)
        row[columns.index("payload")] = json.dumps(row[columns.index("payload")])
        row[columns.index("created_at")] = connection.ops.adapt_datetimefield_value(
            row[columns.index("created_at")]
        )
        _sql(f"UPDATE {ENTRY} SET {assignments} WHERE id = %s", [*row, pk])
    return {EDITED, REORDERED}


def swap_seals(rng: random.Random) -> set[str]:
    """Swap whole links, or only the entries they point at."""
    first, second = rng.sample(_positions(), 2)
    columns = (
        ["entry_id"] if rng.random() < 0.5 else ["entry_id", "entry_hash", "link_hash", "horizon"]
    )
    a = AuditSeal.objects.filter(position=first).values_list(*columns).get()
    b = AuditSeal.objects.filter(position=second).values_list(*columns).get()
    # entry_id is unique: park one side first.
    _sql(f"UPDATE {SEAL} SET entry_id = -1 WHERE position = %s", [first])
    assignments = ", ".join(f"{column} = %s" for column in columns)
    _sql(f"UPDATE {SEAL} SET {assignments} WHERE position = %s", [*a, second])
    _sql(f"UPDATE {SEAL} SET {assignments} WHERE position = %s", [*b, first])
    return {REORDERED, EDITED}


def insert_entry(rng: random.Random) -> set[str]:
    """A back-dated entry, as if it had always been there, inserted behind the sealer."""
    template = AuditEntry.objects.get(pk=rng.choice(_sealed_ids()))
    key = -rng.randint(1, 10**6) if connection.vendor == "sqlite" else None
    columns = "id, " if key is not None else ""
    placeholders = "%s, " if key is not None else ""
    _sql(
        f"INSERT INTO {ENTRY} ({columns}created_at, stamp, actor_kind, actor_id,"
        " merchant_public_id,"
        " action, target_type, target_id, outcome, ip, user_agent, request_id, payload)"
        f" VALUES ({placeholders}%s, %s, 'user', 'usr_forged', %s, 'payment.refund.created',"
        " 'payment', 'pay_forged', 'success', '', '', '', %s)",
        [
            *([key] if key is not None else []),
            connection.ops.adapt_datetimefield_value(template.created_at),
            template.stamp,
            template.merchant_public_id,
            json.dumps({"amount": 1}),
        ],
    )
    return {EXTRA}


def insert_seal(rng: random.Random) -> set[str]:
    """A forged link spliced into the middle: the tail is shifted up by one."""
    positions = _positions()
    at = rng.choice(positions)
    _sql(f"UPDATE {SEAL} SET position = position + 1000000 WHERE position >= %s", [at])
    _sql(f"UPDATE {SEAL} SET position = position - 999999 WHERE position >= 1000000")
    forged = insert_forged_entry_row()
    previous = AuditSeal.objects.filter(position=at - 1).values_list("link_hash", flat=True).first()
    entry_hash = _entry_hash(forged)
    link = link_hash(previous=previous or "0" * 64, position=at, horizon=0, entry_hash=entry_hash)
    _sql(
        f"INSERT INTO {SEAL} (position, entry_id, entry_hash, link_hash, horizon)"
        " VALUES (%s, %s, %s, %s, 0)",
        [at, forged, entry_hash, link],
    )
    return {EDITED, REORDERED}


def insert_forged_entry_row() -> int:
    entry = AuditEntry.objects.create(
        actor_kind="user", actor_id="usr_forged", action="payment.refund.created", payload={}
    )
    return entry.pk


def truncate_tail(rng: random.Random) -> set[str]:
    positions = _positions()
    cut = rng.randint(1, max(1, len(positions) // 3))
    doomed = positions[-cut:]
    ids = list(AuditSeal.objects.filter(position__in=doomed).values_list("entry_id", flat=True))
    _sql(f"DELETE FROM {SEAL} WHERE position >= %s", [doomed[0]])
    if rng.random() < 0.5:
        AuditEntry.objects.filter(pk__in=ids)._raw_delete(connection.alias)
    return {TRUNCATED}


def truncate_tail_and_checkpoints(rng: random.Random) -> set[str]:
    """Cut the log and every database checkpoint over the cut: only the exports remain."""
    truncate_tail(rng)
    remaining = len(_positions())
    _sql(f"DELETE FROM {CHECKPOINT} WHERE size > %s", [remaining])
    return {TRUNCATED}


def delete_checkpoint(rng: random.Random) -> set[str]:
    number = rng.choice(list(AuditCheckpoint.objects.values_list("number", flat=True)))
    _sql(f"DELETE FROM {CHECKPOINT} WHERE number = %s", [number])
    return {MISSING, TRUNCATED}


def forge_checkpoint(rng: random.Random) -> set[str]:
    checkpoint = AuditCheckpoint.objects.get(
        number=rng.choice(list(AuditCheckpoint.objects.values_list("number", flat=True)))
    )
    column = rng.choice(["size", "head_hash", "signature", "created_at", "log_id", "own_key"])
    if column == "own_key":
        # Re-signed with a key of the attacker's own: valid, but not the configured key.
        attacker = Ed25519PrivateKey.generate()
        checkpoint.public_key = public_key_text(attacker)
        checkpoint.head_hash = _flip_hex(checkpoint.head_hash, rng)
        signature = sign(checkpoint.statement(), attacker)
        _sql(
            f"UPDATE {CHECKPOINT} SET public_key = %s, head_hash = %s, signature = %s"
            " WHERE number = %s",
            [checkpoint.public_key, checkpoint.head_hash, signature, checkpoint.number],
        )
        return {BAD_SIGNATURE}
    if column == "size":
        value: object = checkpoint.size - 1
    elif column == "created_at":
        value = connection.ops.adapt_datetimefield_value(
            checkpoint.created_at + timedelta(seconds=1)
        )
    elif column in ("head_hash", "log_id"):
        value = _flip_hex(getattr(checkpoint, column), rng)
    else:
        value = _flip_text(checkpoint.signature, rng)
    _sql(f"UPDATE {CHECKPOINT} SET {column} = %s WHERE number = %s", [value, checkpoint.number])
    return {BAD_SIGNATURE}


def rewrite_chain(rng: random.Random) -> set[str]:
    """Edit an entry and recompute every hash after it, as an attacker without the key would."""
    rewrite_chain_at(rng.choice(_positions()))
    return {EDITED}


def rewrite_chain_at(at: int) -> None:
    """Edit the entry at position `at` and recompute every entry hash and link from there on."""
    seal = AuditSeal.objects.get(position=at)
    _sql(f"UPDATE {ENTRY} SET action = 'payment.rewritten' WHERE id = %s", [seal.entry_id])
    previous = AuditSeal.objects.filter(position=at - 1).values_list("link_hash", flat=True).first()
    previous = previous or "0" * 64
    for position, entry_id, horizon in (
        AuditSeal.objects.filter(position__gte=at)
        .order_by("position")
        .values_list("position", "entry_id", "horizon")
    ):
        entry_hash = _entry_hash(entry_id)
        previous = link_hash(
            previous=previous, position=position, horizon=horizon, entry_hash=entry_hash
        )
        _sql(
            f"UPDATE {SEAL} SET entry_hash = %s, link_hash = %s WHERE position = %s",
            [entry_hash, previous, position],
        )


def remove_checkpoints(directory: Path, *, above_size: int = 0) -> None:
    """Delete the checkpoint rows covering more than `above_size` entries, and their files."""
    for number in AuditCheckpoint.objects.filter(size__gt=above_size).values_list(
        "number", flat=True
    ):
        for path in directory.rglob(f"checkpoint-{number:012d}.json"):
            path.unlink()
    _sql(f"DELETE FROM {CHECKPOINT} WHERE size > %s", [above_size])


DATABASE_MUTATIONS: list[Callable[[random.Random], set[str]]] = [
    edit_entry_field,
    edit_seal_field,
    move_position,
    delete_entry,
    delete_seal,
    swap_entries,
    swap_seals,
    insert_entry,
    insert_seal,
    truncate_tail,
    truncate_tail_and_checkpoints,
    delete_checkpoint,
    forge_checkpoint,
    rewrite_chain,
]


def forge_export_file(rng: random.Random, directory: Path) -> tuple[Path, str, set[str]]:
    """Change an exported checkpoint file; returns the file and its content to restore."""
    path = rng.choice(sorted(directory.rglob("checkpoint-*.json")))
    original = path.read_text()
    data = json.loads(original)
    field = rng.choice(["size", "head", "signature"])
    if field == "size":
        data["statement"]["size"] += rng.choice([-1, 1])
    elif field == "head":
        data["statement"]["head"] = _flip_hex(data["statement"]["head"], rng)
    else:
        data["signature"] = _flip_text(data["signature"], rng)
    path.write_text(json.dumps(data))
    return path, original, {BAD_SIGNATURE}
