"""The deletion certificate's place on the audit log: its audit entry, position and inclusion
proof up to a signed checkpoint, checked offline; any changed byte refused, naming what."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.core.management import call_command

from compliance import certificate_proofs, execution, signing
from compliance.certificates import CERTIFIED_ACTION, certificate_problem
from compliance.models import AuditCheckpoint, AuditEntry, AuditSeal, DataRequestStatus
from compliance.tasks import data_request_execute_task
from config.strict_json import loads_strict
from tests.compliance.test_execution import approved, approved_only, seeded  # noqa: F401
from tests.factories import MerchantFactory
from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db
KEY = "key"


@pytest.fixture
def trusted() -> str:
    return signing.public_key_text()


def test_the_certificate_points_at_its_sealed_audit_entry_under_a_signed_checkpoint(
    seeded,  # noqa: F811
    trusted,
):
    data_request = approved(seeded)
    audit = data_request.certificate["certificate"]["audit"]
    entry = AuditEntry.objects.get(action=CERTIFIED_ACTION, target_id=data_request.public_id)
    assert audit["entry"]["id"] == entry.pk
    assert AuditSeal.objects.get(entry_id=entry.pk).position == audit["position"]
    checkpoint = AuditCheckpoint.objects.get(number=audit["checkpoint"]["statement"]["number"])
    assert checkpoint.statement() == audit["checkpoint"]["statement"]
    assert checkpoint.size == audit["position"] + len(audit["proof"]["path"])
    assert certificate_problem(data_request.certificate, trusted_key=trusted) is None


def test_verify_certificate_needs_no_database(seeded, tmp_path, trusted):  # noqa: F811
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(approved(seeded).certificate))
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        # Nothing listens there: any query would fail the command.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nowhere",
    }
    command = [sys.executable, "manage.py", "verify_certificate", str(path)]
    done = subprocess.run(
        [*command, "--public-key", trusted],
        check=False,
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    audit = json.loads(path.read_text())["certificate"]["audit"]
    assert "OK: genuine certificate" in done.stdout
    assert f"position {audit['position']}, under signed checkpoint" in done.stdout
    path.write_text(path.read_text().replace('"days_used": 0', '"days_used": 1'))
    refused = subprocess.run(
        command,
        check=False,
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "NOT genuine: days_used does not match" in refused.stderr


def _erase_another_customer(index: int) -> dict[str, Any]:
    merchant = MerchantFactory()
    customer = CustomerFactory(merchant=merchant, email=f"person{index}@example.test")
    return approved({"merchant": merchant, "customer": customer}).certificate


def test_audit_verify_passes_after_many_erasures_and_every_certificate_still_verifies(
    trusted, capsys
):
    certificates = [_erase_another_customer(index) for index in range(5)]
    positions = [c["certificate"]["audit"]["position"] for c in certificates]
    assert positions == sorted(set(positions))
    call_command("audit_seal")
    call_command("audit_verify")
    assert "broken" not in capsys.readouterr().out.lower()
    for certificate in certificates:  # later checkpoints leave earlier proofs valid
        assert certificate_problem(certificate, trusted_key=trusted) is None


def test_every_single_byte_changed_is_refused(seeded, trusted):  # noqa: F811
    raw = json.dumps(approved(seeded).certificate, separators=(",", ":")).encode()
    for at in range(len(raw)):
        changed = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]
        try:
            data = loads_strict(changed)
        except ValueError:
            continue  # not JSON any more: refused by the command before any check
        problem = certificate_problem(data, trusted_key=trusted)
        assert problem is not None, f"byte {at} ({raw[at : at + 1]!r}) changed went unnoticed"


def _at(path: str) -> Callable[[dict[str, Any], Any], None]:
    """Set the value at a dotted path inside the certificate body."""

    def change(certificate: dict[str, Any], value: Any) -> None:
        node: Any = certificate["certificate"]
        *parents, last = path.split(".")
        for name in parents:
            node = node[int(name)] if isinstance(node, list) else node[name]
        node[int(last) if isinstance(node, list) else last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("audit.position", lambda v: v + 1, "not at position|ends at position"),
        ("audit.proof.previous", lambda v: "0" * 64, "does not lead to checkpoint"),
        ("audit.proof.horizon", lambda v: v + 1, "does not lead to checkpoint"),
        ("audit.entry.created_at", lambda v: v.replace("Z", "1Z"), "does not lead to"),
        ("audit.entry.payload", lambda v: {"sha256": "x"}, "records another certificate"),
        ("audit.entry.target_id", lambda v: "dsr_other", "not this request's certification"),
        ("audit.checkpoint.statement.head", lambda v: "f" * 64, "checkpoint's signature"),
        ("audit.checkpoint.statement.key", lambda v: "A" * 43, "key that is not the trusted"),
        ("days_used", lambda v: v + 3, "days_used does not match"),
        ("received_at", lambda v: "2001-01-01T00:00:00+00:00", "days_used does not match"),
        ("completed_at", lambda v: "2001-01-01T00:00:00+00:00", "out of order"),
        ("systems.0.basis", lambda v: "", "legal basis and an end date"),
        ("systems.0.retained", lambda v: v + 1, "records another certificate"),
        ("approved_by", lambda v: "user:usr_someone", "records another certificate"),
        ("backups_beyond_use_until", lambda v: "soon", "not a date"),
        ("subject.id", lambda v: "cus_other", "records another certificate"),
    ],
)
def test_a_changed_field_is_refused_naming_what(seeded, trusted, path, value, named):  # noqa: F811
    certificate = approved(seeded).certificate
    original = copy.deepcopy(certificate)
    if path.startswith("systems.0."):  # the first system that retains rows
        systems = certificate["certificate"]["systems"]
        index = next(i for i, system in enumerate(systems) if system["retained"])
        path = path.replace("systems.0.", f"systems.{index}.")
    node: Any = certificate["certificate"]
    for name in path.split("."):
        node = node[int(name)] if isinstance(node, list) else node[name]
    new = value(node)
    _at(path)(certificate, new)
    problem = certificate_problem(certificate, trusted_key=trusted)
    assert problem is not None
    assert re.search(named, problem), problem
    # Re-signing does not help: the proof and the content are checked on their own.
    certificate["signature"] = signing.sign(certificate["certificate"])
    assert certificate_problem(certificate, trusted_key=trusted) is not None
    assert certificate_problem(original, trusted_key=trusted) is None


def test_a_proof_that_cannot_be_built_yet_retries_and_certifies_once(
    seeded,  # noqa: F811
    monkeypatch,
    trusted,
):
    real = certificate_proofs.audit_inclusion
    attempts: list[int] = []

    def not_yet_then_real(entry_id: int) -> dict[str, Any] | None:
        attempts.append(entry_id)
        return None if len(attempts) == 1 else real(entry_id)

    monkeypatch.setattr(execution, "audit_inclusion", not_yet_then_real)
    data_request = approved_only(seeded)
    with pytest.raises(Retry):
        data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.EXECUTING
    data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    assert len(set(attempts)) == 1  # the same certification entry, proved on the retry
    entries = AuditEntry.objects.filter(action=CERTIFIED_ACTION, target_id=data_request.public_id)
    assert entries.count() == 1
    assert certificate_problem(data_request.certificate, trusted_key=trusted) is None


def test_the_documented_format_names_every_field(trusted):
    from compliance.certificates import _FIELDS

    text = (Path(settings.BASE_DIR) / "docs" / "compliance.md").read_text()
    for name in (*_FIELDS, "position", "proof", "checkpoint", "path", "previous", "horizon"):
        assert f"`{name}`" in text, f"docs/compliance.md does not describe `{name}`"


def test_a_certificate_that_would_not_verify_is_never_issued(seeded, monkeypatch):  # noqa: F811
    """A handler that keeps rows without a retention (no basis, no end date) is a defect: the
    request stays executing rather than completing with a certificate an auditor refuses."""
    from compliance import personal_data

    real_handlers = personal_data.handlers

    def keeps_without_basis(subject: personal_data.Subject) -> personal_data.ErasureResult:
        return personal_data.ErasureResult(retained=1)

    def handlers(kind: personal_data.SubjectKind) -> list[personal_data.Handler]:
        found = real_handlers(kind)
        broken = next(h for h in found if h.retention is None)
        return [
            h.__class__(**{**h.__dict__, "erase": keeps_without_basis}) if h is broken else h
            for h in found
        ]

    monkeypatch.setattr(personal_data, "handlers", handlers)
    data_request = approved_only(seeded)
    with pytest.raises(execution.CertificateDefectError, match="legal basis and an end date"):
        data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.EXECUTING
    assert data_request.certificate is None
