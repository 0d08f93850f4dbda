"""The seam between the control plane and whatever runs behind a RUNNING job.

The plane calls `attach(host)` once with its `TrainerHost` (see `trainer_port.py`), `start` when a
job becomes RUNNING and `stop` when it leaves RUNNING; healthz asks `is_ready`. The job passed to
start/stop/is_ready is the plane's own; `host.describe(job)` turns it into a `TrainerJob`.
`drydock.trainer` provides the torch-backed runtime; `NullRuntime` (no training at all) keeps the
control plane usable without torch.
"""

from __future__ import annotations

from typing import Any, Protocol

from .trainer_port import TrainerHost, as_trainer_host

__all__ = ["TrainerRuntime", "NullRuntime"]


class TrainerRuntime(Protocol):
    def attach(self, host: TrainerHost) -> None:
        """Called once when the plane is built (again after a reset, with the new plane)."""

    def start(self, job: Any) -> None:
        """The job became RUNNING: start its trainer (restoring `restore_from` if set)."""

    def is_ready(self, job: Any) -> bool:
        """True once the trainer answers (healthz 200)."""

    def stop(self, job: Any, reason: str, graceful: bool = True) -> None:
        """The job left RUNNING: SIGTERM, a grace period, then SIGKILL (graceful=False: kill)."""

    def close(self) -> None:
        """Stop every trainer (emulator reset or shutdown)."""


class NullRuntime:
    """A trainer that is ready at once and trains nothing."""

    def __init__(self) -> None:
        self.host: TrainerHost | None = None
        self.running: set[tuple[str, str]] = set()
        self.stops: list[tuple[str, str, str]] = []

    def attach(self, host: Any) -> None:
        self.host = as_trainer_host(host)

    def _key(self, job: Any) -> tuple[str, str]:
        assert self.host is not None, "attach() first"
        return self.host.describe(job).key

    def start(self, job: Any) -> None:
        self.running.add(self._key(job))

    def is_ready(self, job: Any) -> bool:
        return self._key(job) in self.running

    def stop(self, job: Any, reason: str, graceful: bool = True) -> None:
        key = self._key(job)
        self.running.discard(key)
        self.stops.append((*key, reason))

    def close(self) -> None:
        self.running.clear()
