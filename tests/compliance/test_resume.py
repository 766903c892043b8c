"""A failure in the middle of an erasure: the request resumes where it stopped and completes
once; no processor is told twice and no model erased twice."""

from __future__ import annotations

from typing import Any

import pytest
from celery.exceptions import Retry

from compliance import personal_data
from compliance.certificates import CERTIFIED_ACTION
from compliance.models import AuditEntry, DataRequestStatus
from compliance.personal_data import Processor, ProcessorPendingError, SubjectKind
from compliance.tasks import data_request_execute_task
from tests.compliance.test_execution import approved_only, seeded  # noqa: F401

pytestmark = pytest.mark.django_db


class Recorder:
    """Stands in for the registry: two processors and every real handler, counting calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.told: list[str] = []
        self.erased: list[str] = []
        self.fail_processor = "second"
        self.fail_handler = ""
        real_handlers = personal_data.handlers
        processors = [self._processor("first"), self._processor("second")]
        monkeypatch.setattr(personal_data, "processors", lambda kind: processors)
        monkeypatch.setattr(
            personal_data,
            "handlers",
            lambda kind: [
                h.__class__(**{**h.__dict__, "erase": self._erase(h)}) for h in real_handlers(kind)
            ],
        )

    def _processor(self, name: str) -> Processor:
        def notify(subject: personal_data.Subject) -> list[str]:
            self.told.append(name)
            if self.fail_processor == name:
                raise ProcessorPendingError(f"{name} is down")
            return [f"{name}_confirmation"]

        return Processor(name=name, subjects=frozenset(SubjectKind), notify=notify)

    def _erase(self, handler: personal_data.Handler) -> Any:
        def erase(subject: personal_data.Subject) -> personal_data.ErasureResult:
            self.erased.append(handler.label)
            if self.fail_handler == handler.label:
                raise RuntimeError("the worker died here")
            return handler.erase(subject)

        return erase


def test_a_processor_failing_after_another_succeeded_resumes_without_telling_it_again(
    seeded,  # noqa: F811
    monkeypatch,
):
    recorder = Recorder(monkeypatch)
    data_request = approved_only(seeded)
    with pytest.raises(Retry):
        data_request_execute_task.apply(args=[data_request.pk])
    told_during_outage = list(recorder.told)
    assert told_during_outage.count("first") == 1
    assert recorder.erased == []
    recorder.fail_processor = ""
    data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    assert recorder.told.count("first") == 1  # told once, before the outage
    assert recorder.told.count("second") == told_during_outage.count("second") + 1
    assert len(recorder.erased) == len(set(recorder.erased))
    processors = data_request.certificate["certificate"]["processors"]
    assert processors == [
        {"name": "first", "confirmations": ["first_confirmation"]},
        {"name": "second", "confirmations": ["second_confirmation"]},
    ]


def test_a_crash_in_the_middle_of_local_erasure_resumes_at_that_model(
    seeded,  # noqa: F811
    monkeypatch,
):
    recorder = Recorder(monkeypatch)
    recorder.fail_processor = ""
    labels = [h.label for h in personal_data.handlers(SubjectKind.CUSTOMER)]
    middle = labels[len(labels) // 2]
    recorder.fail_handler = middle
    data_request = approved_only(seeded)
    with pytest.raises(RuntimeError, match="the worker died here"):
        data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.EXECUTING
    done_before = labels[: labels.index(middle)]
    assert recorder.erased == [*done_before, middle]
    recorder.fail_handler = ""
    # The beat sweep hands the stalled request back; a duplicate delivery is a no-op.
    data_request_execute_task.apply(args=[data_request.pk])
    data_request_execute_task.apply(args=[data_request.pk])
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.COMPLETED
    # The model whose erasure died is erased again (its transaction rolled back); the ones
    # before it are not.
    assert recorder.erased == [*done_before, middle, *labels[labels.index(middle) :]]
    assert recorder.told == ["first", "second"]
    assert (
        AuditEntry.objects.filter(action=CERTIFIED_ACTION, target_id=data_request.public_id).count()
        == 1
    )
    assert (
        AuditEntry.objects.filter(
            action="data_request.completed", target_id=data_request.public_id
        ).count()
        == 1
    )
    systems = {s["system"] for s in data_request.certificate["certificate"]["systems"]}
    assert systems == set(labels)
