"""Fireworks job state names (`JOB_STATE_*`) and the sets both sides decide on."""

from __future__ import annotations

__all__ = [
    "JOB_STATE_PREFIX",
    "JOB_STATES",
    "TOMBSTONE_STATES",
    "STOPPED_STATES",
    "RESUMABLE_STATES",
    "job_state_name",
]

JOB_STATE_PREFIX = "JOB_STATE_"
JOB_STATES = frozenset(
    JOB_STATE_PREFIX + s
    for s in (
        "UNSPECIFIED",
        "CREATING",
        "PENDING",
        "RUNNING",
        "IDLE",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "PAUSED",
        "CANCELLING",
        "DELETING",
        "DELETED",
        "ARCHIVED",
        "EARLY_STOPPED",
    )
)
# A tombstone is readable (its checkpoints stay listed) but its id can never be reused.
TOMBSTONE_STATES = frozenset({"JOB_STATE_DELETED", "JOB_STATE_ARCHIVED"})
# States a job waited on may settle in without ever becoming ready.
STOPPED_STATES = frozenset(
    {
        "JOB_STATE_CANCELLING",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_COMPLETED",
        "JOB_STATE_EARLY_STOPPED",
        "JOB_STATE_DELETING",
    }
)
# States `:resume` accepts (the service answers FAILED_PRECONDITION for the others).
RESUMABLE_STATES = frozenset(
    {"JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_PAUSED", "JOB_STATE_COMPLETED"}
)


def job_state_name(state: str | None) -> str:
    """The wire name of a bare state ("RUNNING" -> "JOB_STATE_RUNNING"; None -> UNSPECIFIED)."""
    return JOB_STATE_PREFIX + (state or "UNSPECIFIED")
