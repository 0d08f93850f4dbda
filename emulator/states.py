"""Job states and the checked transition table (service-agnostic; dialects map the names)."""

from __future__ import annotations

from enum import Enum

from .errors import IllegalTransition

__all__ = [
    "JobState",
    "TRANSITIONS",
    "RESUMABLE",
    "TRANSITIONAL",
    "HOLDS_CAPACITY",
    "TOMBSTONES",
    "check_transition",
]


class JobState(str, Enum):
    CREATING = "CREATING"  # resources being provisioned (capacity held)
    PENDING = "PENDING"  # queued for accelerator capacity
    RUNNING = "RUNNING"  # trainer up; the gateway answers
    IDLE = "IDLE"  # service-mode job with no active training
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # preemption, node failure, trainer crash
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"  # idle auto-stop
    CANCELLING = "CANCELLING"  # transitional
    DELETING = "DELETING"  # transitional
    DELETED = "DELETED"  # tombstone: readable, never re-attachable


S = JobState
_RESUME_TARGETS = {S.PENDING, S.CREATING, S.DELETING}

TRANSITIONS: dict[JobState | None, frozenset[JobState]] = {
    None: frozenset({S.CREATING, S.PENDING}),
    S.PENDING: frozenset({S.CREATING, S.FAILED, S.CANCELLING, S.DELETING}),
    S.CREATING: frozenset({S.RUNNING, S.PENDING, S.FAILED, S.CANCELLING, S.DELETING}),
    # RUNNING -> CREATING/PENDING/DELETING: a preemption that passes through a transitional
    # state (the control plane is still processing the pod death) before FAILED.
    S.RUNNING: frozenset(
        {S.FAILED, S.IDLE, S.PAUSED, S.COMPLETED, S.CANCELLING, S.DELETING, S.CREATING, S.PENDING}
    ),
    S.IDLE: frozenset({S.RUNNING, S.PAUSED, S.FAILED, S.CANCELLING, S.DELETING}),
    S.FAILED: frozenset(_RESUME_TARGETS),
    S.CANCELLED: frozenset(_RESUME_TARGETS),
    S.PAUSED: frozenset(_RESUME_TARGETS),
    S.COMPLETED: frozenset(_RESUME_TARGETS),
    S.CANCELLING: frozenset({S.CANCELLED, S.DELETING}),
    S.DELETING: frozenset({S.DELETED, S.FAILED}),
    S.DELETED: frozenset(),
}

RESUMABLE = frozenset({S.FAILED, S.CANCELLED, S.PAUSED, S.COMPLETED})
TRANSITIONAL = frozenset({S.CREATING, S.PENDING, S.CANCELLING, S.DELETING})
HOLDS_CAPACITY = frozenset({S.CREATING, S.RUNNING, S.IDLE})
TOMBSTONES = frozenset({S.DELETED})


def check_transition(src: JobState | None, dst: JobState) -> None:
    if dst not in TRANSITIONS[src]:
        raise IllegalTransition(f"illegal job transition {src and src.value} -> {dst.value}")
