"""Admin changes become audit entries: the admin's own LogEntry is hooked, not each model."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_save

from compliance.actors import Actor
from compliance.services import audit_record

_ACTIONS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def _target_id(entry: LogEntry) -> str:
    # Only a public id may name the object; deleted objects and models without one get none.
    if entry.action_flag == DELETION:
        return ""
    try:
        edited = entry.get_edited_object()
    except Exception:  # noqa: BLE001 - any lookup failure just means "no public id"
        return ""
    public_id = getattr(edited, "public_id", "")
    return public_id if isinstance(public_id, str) else ""


def record_admin_change(
    sender: type[LogEntry], instance: LogEntry, created: bool, **_: Any
) -> None:
    if not created:
        return
    content_type = (
        ContentType.objects.get_for_id(instance.content_type_id)
        if instance.content_type_id
        else None
    )
    model = f"{content_type.app_label}.{content_type.model}" if content_type else ""
    fields = [name for change in _parsed(instance) for name in change]
    audit_record(
        action=f"admin.change.{_ACTIONS.get(instance.action_flag, 'other')}",
        actor=Actor.for_user(instance.user),
        target_type=content_type.model[:32] if content_type else "",
        target_id=_target_id(instance),
        payload={"model": model, "fields": sorted(set(fields))[:50]},
    )


def _parsed(instance: LogEntry) -> list[list[str]]:
    """Field names changed, from the admin's JSON change message (never the values)."""
    try:
        messages = json.loads(instance.change_message or "[]")
    except ValueError:
        return []
    found = []
    for message in messages if isinstance(messages, list) else []:
        changed = message.get("changed", {}) if isinstance(message, dict) else {}
        names = changed.get("fields", []) if isinstance(changed, dict) else []
        found.append([str(name)[:64] for name in names if isinstance(name, str)])
    return found


def connect() -> None:
    post_save.connect(record_admin_change, sender=LogEntry, dispatch_uid="compliance.admin_log")
