"""`ServingRuntime`: what runs behind a RUNNING deployment (a `TrainerRuntime` for deployment
jobs): one replica per deployment, holding the served weights, its hot-load status and a
`drydock.trainer.sampling.SamplingEngine`.

The model work (building the engine, loading snapshot weights) is the backend's: by default
`drydock.trainer.sampling`, imported when the first deployment starts, so the dialect imports
no trainer and no torch (the layering rule).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...control_plane import ControlPlane, Job

__all__ = ["ServingRuntime", "Replica", "SnapshotError"]


class SnapshotError(Exception):
    """A snapshot cannot be served (missing, another model, broken chain)."""


@dataclass
class Replica:
    """One serving replica's state, as the hot-load status reports it."""

    engine: Any  # SamplingEngine
    config: dict  # the base model's LocalModelConfig, as a dict
    current: str | None = None  # current_snapshot_identity
    stage: str = "idle"  # idle | loading | done | error
    target: str | None = None  # loading_state.target_snapshot_identity
    error: str | None = None
    ready: bool = True
    loads: int = 0
    history: list[str] = field(default_factory=list)

    def status(self) -> dict:
        return {
            "current_snapshot_identity": self.current,
            "readiness": self.ready,
            "loading_state": {"stage": self.stage, "target_snapshot_identity": self.target},
        }


class ServingRuntime:
    """Deployment jobs: `start` boots a replica on the base weights (no snapshot), `stop` drops
    it. `load` swaps in a trainer snapshot (synchronously: the hot-load POST answers after the
    load, so the SDK's first status poll already sees it).

    backend: what builds engines and loads snapshots (`build_engine(config, device=, seed=,
    init_location=, max_batch=)`, `load_snapshot(engine, config, location, identity)`,
    `SnapshotLoadError`); default `drydock.trainer.sampling`, imported when first needed."""

    reports_steps = False  # serving replicas run no optimizer steps (at_step never fires here)
    rdma_weight_sync = False  # see FireworksDialect.rdma_weight_sync

    def __init__(self, device: str | None = None, max_batch: int = 64, backend: Any = None) -> None:
        self.device = device
        self.max_batch = max_batch
        self._backend = backend
        self.cp: ControlPlane | None = None
        self.replicas: dict[tuple[str, str], Replica] = {}
        self._lock = threading.RLock()

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from drydock.trainer import sampling  # lazy: the dialect imports no trainer

            self._backend = sampling
        return self._backend

    # ------------------------------------------------------------------ TrainerRuntime
    def attach(self, control_plane: ControlPlane) -> None:
        self.close()
        self.cp = control_plane

    def start(self, job: Job) -> None:
        assert job.model is not None  # every created job is placed (ControlPlane._place)
        config = job.model.local.model_dump()
        promoted = self.cp.models.get(job.spec.base_model) if self.cp is not None else None
        try:
            backend = self.backend
        except ImportError as exc:  # no torch here: the deployment is up but serves nothing
            if self.cp is not None:
                self.cp.log(
                    "deployment.replica_unavailable",
                    job.account,
                    job.id,
                    reason=f"no serving backend: {exc}",
                )
            return
        engine = backend.build_engine(
            config,
            device=self.device,
            seed=self.cp.seed if self.cp else 0,
            init_location=promoted.location if promoted is not None else None,
            max_batch=self.max_batch,
        )
        with self._lock:
            old = self.replicas.pop(job.key, None)
            self.replicas[job.key] = Replica(engine, config)
        if old is not None:
            old.engine.close()
        if self.cp is not None:
            self.cp.log("deployment.replica_started", job.account, job.id, snapshot=None)

    def is_ready(self, job: Job) -> bool:
        return job.key in self.replicas

    def stop(self, job: Job, reason: str, graceful: bool = True) -> None:
        with self._lock:
            rep = self.replicas.pop(job.key, None)
        if rep is not None:
            rep.engine.close()

    def close(self) -> None:
        with self._lock:
            reps, self.replicas = list(self.replicas.values()), {}
        for rep in reps:
            rep.engine.close()

    # ------------------------------------------------------------------ serving
    def replica(self, job: Job) -> Replica | None:
        return self.replicas.get(job.key)

    def load(self, job: Job, identity: str, location: str) -> None:
        """Serve the snapshot at `location` as `identity`. Raises SnapshotError."""
        rep = self.replicas.get(job.key)
        if rep is None:
            raise SnapshotError("the deployment has no running replica")
        try:
            self.backend.load_snapshot(rep.engine, rep.config, location, identity)
        except self.backend.SnapshotLoadError as exc:
            raise SnapshotError(f"snapshot {identity!r}: {exc}") from None
        rep.loads += 1
        rep.history.append(identity)

    def reset_to_base(self, job: Job, reason: str) -> None:
        """The replica restarts on its base weights (a re-attach, a replica restart)."""
        if job.key in self.replicas:
            self.start(job)
            if self.cp is not None:
                self.cp.log("deployment.replica_reset", job.account, job.id, reason=reason)
