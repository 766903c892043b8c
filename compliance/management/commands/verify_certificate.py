"""`manage.py verify_certificate FILE`: check a deletion certificate offline (no database).

Exit 0 when the file is a genuine certificate signed by the trusted key (the configured
AUDIT_SIGNING_KEY's public half, or `--public-key`) whose audit entry is proven to sit at its
position under a checkpoint that key signed; 1 with a line naming what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import signing
from compliance.certificates import certificate_problem
from config.strict_json import loads_strict

# A certificate is a few kilobytes; a larger file is not one, and is not read whole.
_MAX_BYTES = 1_000_000


class Command(BaseCommand):
    help = "Verifies a data-request deletion certificate offline; exit 1 naming what is wrong."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the certificate (JSON)")
        parser.add_argument(
            "--public-key",
            default="",
            help="the signer's Ed25519 public key (base64url); default: AUDIT_SIGNING_KEY's",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        trusted = options["public_key"].strip()
        if not trusted:
            try:
                trusted = signing.public_key_text()
            except ImproperlyConfigured as error:
                raise CommandError(f"no trusted key: {error}; or pass --public-key") from error
        path = Path(options["file"])
        try:
            with path.open("rb") as handle:
                raw = handle.read(_MAX_BYTES + 1)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        if len(raw) > _MAX_BYTES:
            raise CommandError(f"{path}: larger than any certificate ({_MAX_BYTES} bytes)")
        try:
            data = loads_strict(raw)
        except ValueError as error:  # JSONRefusedError, UnicodeDecodeError
            raise CommandError(
                f"{path}: not a certificate: the file is not JSON ({error})"
            ) from error
        problem = certificate_problem(data, trusted_key=trusted)
        if problem is not None:
            raise CommandError(f"{path}: NOT genuine: {problem}")
        body = data["certificate"]
        audit = body["audit"]
        self.stdout.write(
            f"OK: genuine certificate for {body['request']} ({body['request_type']}, subject "
            f"{body['subject']['id']}), completed {body['completed_at']}; on the audit log at "
            f"position {audit['position']}, under signed checkpoint "
            f"{audit['checkpoint']['statement'].get('number')} of log "
            f"{audit['checkpoint']['statement'].get('log')}"
        )
