"""How the real SDK reads a job payload's status message (shared by models and errors)."""

from __future__ import annotations

from typing import Any

__all__ = ["job_status_message"]


def job_status_message(job: dict[str, Any]) -> str:
    """The best human-readable status of a job payload (the real SDK's precedence)."""
    for key in ("statusMessage", "message"):
        if job.get(key):
            return str(job[key])
    status = job.get("status")
    if isinstance(status, dict):
        for key in ("message", "statusMessage", "detail", "details"):
            if status.get(key):
                return str(status[key])
        return ""
    return str(status) if status else ""
