"""What the Kubernetes face keeps beside the core job: the TrainJob manifest, its pods (with
their real processes' output) and the namespace's Events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogBuffer", "Pod", "TrainJobRecord", "KubeflowState"]


class LogBuffer:
    """A container's merged stdout+stderr: appended by a reader thread, read whole or followed."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._cond = threading.Condition()
        self.closed = False

    def append(self, chunk: bytes) -> None:
        with self._cond:
            self._data += chunk
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def read(self) -> bytes:
        with self._cond:
            return bytes(self._data)

    def follow(self, poll_s: float = 1.0) -> Iterator[bytes]:
        """Chunks as they arrive, until the container's output ends."""
        pos = 0
        while True:
            with self._cond:
                while pos >= len(self._data) and not self.closed:
                    self._cond.wait(poll_s)
                chunk = bytes(self._data[pos:])
                done = self.closed and pos + len(chunk) >= len(self._data)
            pos += len(chunk)
            if chunk:
                yield chunk
            if done:
                return


@dataclass
class Pod:
    name: str
    namespace: str
    job: str
    index: int  # completion index = node rank
    attempt: int  # JobSet restart attempt
    uid: str
    created: float
    command: list[str]
    env: list[dict[str, str]]
    image: str
    resources: dict[str, Any] | None = None
    phase: str = "Pending"
    reason: str | None = None
    message: str | None = None
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    log: LogBuffer = field(default_factory=LogBuffer)

    @property
    def labels(self) -> dict[str, str]:
        return {
            "jobset.sigs.k8s.io/jobset-name": self.job,
            "jobset.sigs.k8s.io/replicatedjob-name": "node",
            "jobset.sigs.k8s.io/job-index": "0",
            "jobset.sigs.k8s.io/restart-attempt": str(self.attempt),
            "batch.kubernetes.io/job-completion-index": str(self.index),
            "trainer.kubeflow.org/trainjob-ancestor-step": "trainer",
        }


@dataclass
class TrainJobRecord:
    tenant: str
    namespace: str
    name: str
    manifest: dict[str, Any]  # as served (metadata filled in, status computed per read)
    runtime: dict[str, Any]  # the resolved (Cluster)TrainingRuntime
    num_nodes: int
    nproc_per_node: int
    max_restarts: int
    unsupported: str | None = None  # why drydock refuses to run it (a Failed reason)
    attempt: int = 0
    failure: tuple[str, str] | None = None  # (reason, message) of the Failed condition
    finished: float | None = None
    pods: list[Pod] = field(default_factory=list)


class KubeflowState:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], TrainJobRecord] = {}
        self.events: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (account, ns) -> Events

    def job(self, tenant: str, name: str) -> TrainJobRecord | None:
        return self.jobs.get((tenant, name))
