"""The seam between the control plane and whatever runs behind a RUNNING job.

The control plane calls `start` when a job becomes RUNNING and `stop` when it leaves RUNNING;
the gateway asks `is_ready` for healthz. `drydock.trainer` provides the torch-backed runtime;
`NullRuntime` (no training at all) keeps the control plane usable without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .control_plane import ControlPlane, Job

__all__ = ["TrainerRuntime", "NullRuntime"]


class TrainerRuntime(Protocol):
    def attach(self, control_plane: "ControlPlane") -> None:
        """Called once when the emulator is built."""

    def start(self, job: "Job") -> None:
        """The job became RUNNING: start its trainer (restoring nothing by itself)."""

    def is_ready(self, job: "Job") -> bool:
        """True once the trainer answers (healthz 200)."""

    def stop(self, job: "Job", reason: str, graceful: bool = True) -> None:
        """The job left RUNNING: SIGTERM, a grace period, then SIGKILL (graceful=False: kill)."""

    def close(self) -> None:
        """Stop every trainer (emulator reset or shutdown)."""


class NullRuntime:
    """A trainer that is ready at once and trains nothing."""

    def __init__(self) -> None:
        self.running: set[tuple[str, str]] = set()
        self.stops: list[tuple[str, str, str]] = []

    def attach(self, control_plane: Any) -> None:
        pass

    def start(self, job: "Job") -> None:
        self.running.add((job.account, job.id))

    def is_ready(self, job: "Job") -> bool:
        return (job.account, job.id) in self.running

    def stop(self, job: "Job", reason: str, graceful: bool = True) -> None:
        self.running.discard((job.account, job.id))
        self.stops.append((job.account, job.id, reason))

    def close(self) -> None:
        self.running.clear()
