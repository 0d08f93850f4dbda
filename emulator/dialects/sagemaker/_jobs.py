"""One SageMaker training job as the dialect keeps it: the request as sent, the core job behind
it, and the secondary-status history (each step appended on the virtual clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drydock.emulator.states import JobState

__all__ = ["TrainingJobRecord", "PRIMARY_TERMINAL", "primary_status"]

S = JobState
PRIMARY_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


@dataclass
class TrainingJobRecord:
    name: str
    arn: str
    request: dict[str, Any]
    core_id: str
    tenant: str
    region: str
    creation_time: float
    technique: str
    hub_model: str
    hyperparameters: dict[str, str]
    serverless: bool
    transitions: list[dict[str, Any]] = field(default_factory=list)
    failure_reason: str | None = None
    stop_status: str | None = None  # Stopped | MaxRuntimeExceeded | MaxWaitTimeExceeded
    stop_requested: bool = False
    training_start: float | None = None
    training_end: float | None = None
    model_artifacts: str | None = None
    output_model_package_arn: str | None = None
    progress: dict[str, int] | None = None
    log_stream: str | None = None
    last_modified: float = 0.0
    awaiting_restart: bool = False
    max_wait_event: Any = None

    @property
    def secondary(self) -> str:
        return self.transitions[-1]["Status"] if self.transitions else "Starting"

    def enter(self, status: str, message: str, now: float) -> None:
        """Close the open secondary step and open `status` (a repeat only updates the message)."""
        if self.transitions and self.transitions[-1]["Status"] == status:
            self.transitions[-1]["StatusMessage"] = message
            return
        if self.transitions:
            self.transitions[-1].setdefault("EndTime", now)
        self.transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        self.last_modified = now

    def output_path(self) -> str:
        return self.request.get("OutputDataConfig", {}).get("S3OutputPath", "").rstrip("/")


def primary_status(rec: TrainingJobRecord, state: JobState | None) -> str:
    if state == S.COMPLETED:
        return "Completed"
    if state == S.CANCELLING:
        return "InProgress" if rec.failure_reason else "Stopping"
    if state == S.CANCELLED:
        return "Failed" if rec.failure_reason else "Stopped"
    if state == S.FAILED and not rec.awaiting_restart:
        return "Failed"
    return "InProgress"
