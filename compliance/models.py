"""Audit log tables: unchained entries, the sealed hash chain over them, and signed checkpoints.

All three are append-only in the database (see the triggers in migration 0002): rows are only
ever inserted. Integer ids and the PostgreSQL transaction id are bookkeeping for the sealer and
never leave the server; what people see are public ids and the chain position.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from compliance import signing
from compliance.actors import ActorKind
from config.ids import new_public_id


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class ActorKindChoices(models.TextChoices):
    USER = ActorKind.USER, "User"
    API_KEY = ActorKind.API_KEY, "API key"
    SYSTEM = ActorKind.SYSTEM, "System"
    WEBHOOK = ActorKind.WEBHOOK, "Webhook"
    ANONYMOUS = ActorKind.ANONYMOUS, "Anonymous"


class AuditEntry(models.Model):
    """One recorded action, written in the caller's transaction and never changed."""

    created_at = models.DateTimeField(default=timezone.now)
    # PostgreSQL: a sequence value taken by a trigger (never by the app) after the transaction
    # announced itself as an audit writer; the sealer only seals stamps below every in-flight
    # writer's announcement, so an entry that commits late is sealed later, never skipped.
    # NULL on SQLite, where writers are serialised and id order already is commit order.
    stamp = models.BigIntegerField(null=True, blank=True, editable=False)
    actor_kind = models.CharField(max_length=16, choices=ActorKindChoices.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    merchant_public_id = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["merchant_public_id", "-created_at"], name="audit_merchant_time"),
            models.Index(fields=["stamp"], name="audit_stamp"),
            models.Index(fields=["action"], name="audit_action"),
            models.Index(fields=["actor_id"], name="audit_actor"),
            models.Index(fields=["target_id"], name="audit_target"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=Outcome.values), name="audit_outcome_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(actor_kind__in=ActorKindChoices.values),
                name="audit_actor_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        actor = f"{self.actor_kind}:{self.actor_id}" if self.actor_id else self.actor_kind
        return f"{self.action} by {actor}"


class AuditSeal(models.Model):
    """A link of the hash chain: the entry at `position` and the chain hash up to it."""

    position = models.BigIntegerField(primary_key=True)
    # Nullable in the ORM only so the verifier's join is a LEFT JOIN and a deleted entry shows
    # up as missing; the check constraint keeps the column NOT NULL in practice. No foreign
    # key: the chain must survive whatever happens to the entries table, and say so.
    entry = models.OneToOneField(
        AuditEntry,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="seal",
    )
    entry_hash = models.CharField(max_length=64)
    link_hash = models.CharField(max_length=64)
    # The sealing run's horizon (PostgreSQL: entry stamp; SQLite: entry id): every entry
    # below it was sealed by that run or an earlier one. Part of the link hash.
    horizon = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(entry__isnull=False), name="audit_seal_entry_set"
            ),
            models.CheckConstraint(
                condition=models.Q(position__gte=1), name="audit_seal_position_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.link_hash[:12]}"


class AuditCheckpoint(models.Model):
    """A signed statement "the chain had `size` links ending in `head_hash`", also exported."""

    number = models.BigIntegerField(primary_key=True)
    log_id = models.CharField(max_length=32)
    size = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    public_key = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="audit_checkpoint_number_positive"
            ),
            models.UniqueConstraint(fields=["size"], name="audit_checkpoint_size_unique"),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.number} ({self.size} entries)"

    def statement(self) -> dict[str, Any]:
        """The signed statement this row stands for (what its signature must verify over)."""
        return signing.statement(
            log_id=self.log_id,
            number=self.number,
            size=self.size,
            head_hash=self.head_hash,
            created_at=self.created_at,
            public_key=self.public_key,
        )


class VerificationResult(models.TextChoices):
    INTACT = "intact", "Intact"
    BROKEN = "broken", "Broken"


class AuditVerification(models.Model):
    """The outcome of an `audit_verify` run, shown as the chain status."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    result = models.CharField(max_length=8, choices=VerificationResult.choices)
    verified = models.BigIntegerField()
    first_bad_position = models.BigIntegerField(null=True, blank=True)
    problem = models.CharField(max_length=32, blank=True)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(result__in=VerificationResult.values),
                name="audit_verification_result_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.result} at {self.finished_at:%Y-%m-%d %H:%M:%S}"


# --- Data requests (GDPR Art. 15, 17, 20) -------------------------------------------------------


def _data_request_id() -> str:
    return new_public_id("dsr")


class DataRequestType(models.TextChoices):
    ACCESS = "access", "Access / portability (Art. 15, 20)"
    ERASURE = "erasure", "Erasure (Art. 17)"


class ErasureGround(models.TextChoices):
    """Art. 17(1)(a)-(f): why the subject's data must be erased."""

    NO_LONGER_NECESSARY = "art17_1_a", "(a) No longer necessary for its purpose"
    CONSENT_WITHDRAWN = "art17_1_b", "(b) Consent withdrawn"
    OBJECTION = "art17_1_c", "(c) The subject objects"
    UNLAWFUL = "art17_1_d", "(d) Unlawfully processed"
    LEGAL_OBLIGATION = "art17_1_e", "(e) Erasure required by law"
    CHILD = "art17_1_f", "(f) Collected from a child (information society service)"


class DataRequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    VERIFIED = "verified", "Identity verified"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"


# A request in one of these states is still being worked (not completed, not rejected).
DATA_REQUEST_IN_PROGRESS = (
    DataRequestStatus.RECEIVED,
    DataRequestStatus.VERIFIED,
    DataRequestStatus.APPROVED,
    DataRequestStatus.EXECUTING,
)


class DataSubjectKind(models.TextChoices):
    CUSTOMER = "customer", "A merchant's customer"
    USER = "user", "A person with a login"


class DataRequest(models.Model):
    """One data subject's request, from receipt to its certificate.

    The subject is held only by pseudonymous public ids (`cus_...`, `usr_...`): a request
    opened by email is resolved to ids at once, and the email is not kept.
    """

    public_id = models.CharField(
        max_length=32, unique=True, default=_data_request_id, editable=False
    )
    type = models.CharField(max_length=8, choices=DataRequestType.choices)
    ground = models.CharField(max_length=16, choices=ErasureGround.choices, blank=True)
    status = models.CharField(
        max_length=16, choices=DataRequestStatus.choices, default=DataRequestStatus.RECEIVED
    )
    subject_kind = models.CharField(max_length=8, choices=DataSubjectKind.choices)
    # `mer_...` for a customer subject; empty for a login.
    merchant_public_id = models.CharField(max_length=32, blank=True)
    subject_reference = models.CharField(max_length=32)
    opened_by = models.CharField(max_length=100, help_text="actor kind:id")
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.CharField(max_length=500, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.CharField(max_length=100, blank=True)
    verification_method = models.CharField(max_length=500, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=100, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.CharField(max_length=100, blank=True)
    rejection_reason = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The signed deletion certificate (pseudonymous only), once completed.
    certificate = models.JSONField(null=True, blank=True)

    class Meta:
        permissions = [
            (
                "approve_datarequest",
                "Can verify, approve, reject and extend data requests",
            )
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="dsr_queue"),
            models.Index(fields=["merchant_public_id", "-received_at"], name="dsr_merchant"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type__in=DataRequestType.values), name="dsr_type_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DataRequestStatus.values), name="dsr_status_valid"
            ),
            models.CheckConstraint(
                condition=(models.Q(type="erasure") & ~models.Q(ground=""))
                | (models.Q(type="access") & models.Q(ground="")),
                name="dsr_ground_iff_erasure",
            ),
            models.CheckConstraint(
                condition=models.Q(subject_kind__in=DataSubjectKind.values),
                name="dsr_subject_kind_valid",
            ),
            # A second request of the same kind while one is still being worked is the same
            # request: it is refused naming the open one (two would erase or export twice).
            models.UniqueConstraint(
                fields=["type", "subject_kind", "merchant_public_id", "subject_reference"],
                condition=models.Q(status__in=DATA_REQUEST_IN_PROGRESS),
                name="dsr_one_open_per_subject",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class StepStatus(models.TextChoices):
    DONE = "done", "Done"
    PENDING = "pending", "Waiting to retry"


class DataRequestStep(models.Model):
    """One step of a request's execution (a processor told, a model erased), recorded in the
    same transaction as its effect so a resumed execution skips what is done."""

    data_request = models.ForeignKey(DataRequest, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=8, choices=StepStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["data_request", "name"], name="dsr_step_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.data_request_id}:{self.name} ({self.status})"


class LegalHold(models.Model):
    """Stops retention for a merchant (no customer given) or one of its customers, while a
    dispute, an investigation or litigation needs their records as they are."""

    merchant_public_id = models.CharField(max_length=32)
    customer_public_id = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=500)
    placed_by = models.CharField(max_length=100)
    placed_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["released_at"], name="legal_hold_active")]

    def __str__(self) -> str:
        return f"hold on {self.customer_public_id or self.merchant_public_id}"
