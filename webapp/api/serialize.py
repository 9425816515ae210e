"""The JSON shapes of runs and messages (documented in webapp/api/openapi.py).

Kept in one place so the store and admin endpoints answer identical objects, and so the
one rule that matters most lives here: a run's URL is shown masked, never its secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.egress import mask_url
from webapp.models import Message, Run


def iso(value: datetime | None) -> str | None:
    """Naive UTC from the database as RFC 3339 with an explicit Z."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def job(run: Run) -> dict[str, Any]:
    duration = run.duration_seconds
    return {
        "id": run.id,
        "status": run.status,
        "phase": run.phase,
        "progress": run.progress,
        "marketplace": run.marketplace,
        "language": run.language,
        # Stored masked already; masking again costs nothing and survives a bad writer.
        "source_url": mask_url(run.source_url) if run.source_url else None,
        "source_name": run.source_name,
        "batch_size": run.batch_size,
        "trigger": run.trigger,
        "imported_count": run.imported_count,
        "updated_count": run.updated_count,
        "unchanged_count": run.unchanged_count,
        "error_count": run.error_count,
        "warning_count": run.warning_count,
        "total_processed": run.total_processed,
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "created_at": iso(run.created_at),
        "duration_seconds": round(duration, 3) if duration is not None else None,
        "error_message": run.error_message,
        "store": {"id": run.store.id, "code": run.store.code},
        "created_by": run.user.email if run.user else None,
    }


def message(msg: Message) -> dict[str, Any]:
    return {
        "id": msg.id,
        "severity": msg.severity,
        "error_type": msg.error_type,
        "row_number": msg.row_number,
        "identifier": msg.identifier,
        "error_message": msg.error_message,
        "row_data": msg.row_data,
    }


def page(items: list[dict[str, Any]], total: int, page_no: int, limit: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page_no, "limit": limit}
