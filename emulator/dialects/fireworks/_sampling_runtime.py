"""`ServingRuntime`: what runs behind a RUNNING deployment (a `TrainerRuntime` for deployment
jobs): one replica per deployment, holding the served weights, its hot-load status and a
`drydock.trainer.sampling.SamplingEngine`.

torch and the trainer package are imported lazily, when a deployment first starts, so the
dialect imports without them (the layering rule: the dialect does not import the trainer at
module import).
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

    engine: Any                       # SamplingEngine
    config: dict                      # the base model's LocalModelConfig, as a dict
    current: str | None = None        # current_snapshot_identity
    stage: str = "idle"               # idle | loading | done | error
    target: str | None = None         # loading_state.target_snapshot_identity
    error: str | None = None
    ready: bool = True
    loads: int = 0
    history: list[str] = field(default_factory=list)

    def status(self) -> dict:
        return {"current_snapshot_identity": self.current, "readiness": self.ready,
                "loading_state": {"stage": self.stage, "target_snapshot_identity": self.target}}


class ServingRuntime:
    """Deployment jobs: `start` boots a replica on the base weights (no snapshot), `stop` drops
    it. `load` swaps in a trainer snapshot (synchronously: the hot-load POST answers after the
    load, so the SDK's first status poll already sees it)."""

    def __init__(self, device: str | None = None, max_batch: int = 64) -> None:
        self.device = device
        self.max_batch = max_batch
        self.cp: "ControlPlane | None" = None
        self.replicas: dict[tuple[str, str], Replica] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ TrainerRuntime
    def attach(self, control_plane: "ControlPlane") -> None:
        self.close()
        self.cp = control_plane

    def start(self, job: "Job") -> None:
        from drydock.trainer.sampling import SamplingEngine

        model = self._base_model(job)
        cfg = job.model.local
        device = self._device()
        engine = SamplingEngine(model.to(device), max_seq_len=cfg.max_seq_len,
                                vocab_size=cfg.vocab_size, device=device,
                                max_batch=self.max_batch,
                                default_seed=(self.cp.seed if self.cp else 0))
        with self._lock:
            old = self.replicas.pop(job.key, None)
            self.replicas[job.key] = Replica(engine, cfg.model_dump())
        if old is not None:
            old.engine.close()
        if self.cp is not None:
            self.cp.log("deployment.replica_started", job.account, job.id, snapshot=None)

    def is_ready(self, job: "Job") -> bool:
        return job.key in self.replicas

    def stop(self, job: "Job", reason: str, graceful: bool = True) -> None:
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
    def replica(self, job: "Job") -> Replica | None:
        return self.replicas.get(job.key)

    def load(self, job: "Job", identity: str, location: str) -> None:
        """Serve the snapshot at `location` as `identity`. Raises SnapshotError."""
        import torch

        from drydock.trainer._model import TinyDecoder
        from drydock.trainer.checkpoints import load_payload

        rep = self.replicas.get(job.key)
        if rep is None:
            raise SnapshotError("the deployment has no running replica")
        try:
            payload = load_payload(location)
        except (OSError, RuntimeError, ValueError) as exc:
            raise SnapshotError(f"cannot read snapshot {identity!r}: {exc}") from None
        meta, weights = payload["meta"], payload["model"]
        if meta.get("config") != rep.config:
            raise SnapshotError(f"snapshot {identity!r} was saved by a different base model")
        from drydock.emulator.shapes import LocalModelConfig

        model = TinyDecoder(LocalModelConfig(**rep.config), lora_rank=int(meta.get("lora_rank", 0)),
                            lora_alpha=float(meta.get("lora_alpha", 32.0)))
        with torch.no_grad():
            model.load_state_dict(weights)
        rep.engine.swap(model.to(self._device()), identity)
        rep.loads += 1
        rep.history.append(identity)

    def reset_to_base(self, job: "Job", reason: str) -> None:
        """The replica restarts on its base weights (a re-attach, a replica restart)."""
        if job.key in self.replicas:
            self.start(job)
            if self.cp is not None:
                self.cp.log("deployment.replica_reset", job.account, job.id, reason=reason)

    # ------------------------------------------------------------------ helpers
    def _device(self) -> str:
        if self.device is not None:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _base_model(self, job: "Job"):
        """The deployment's base weights: the catalog model's seeded init (what a trainer's
        `create_model` starts from), or a promoted model's weights."""
        import torch

        from drydock.trainer._model import TinyDecoder, merged_state_dict
        from drydock.trainer.checkpoints import load_payload

        cfg = job.model.local
        model = TinyDecoder(cfg, seed=0)
        promoted = self.cp.models.get(job.spec.base_model) if self.cp is not None else None
        if promoted is not None and promoted.location:
            payload = load_payload(promoted.location)
            meta = payload["meta"]
            src = TinyDecoder(cfg, lora_rank=int(meta.get("lora_rank", 0)),
                              lora_alpha=float(meta.get("lora_alpha", 32.0)))
            with torch.no_grad():
                src.load_state_dict(payload["model"])
                model.load_state_dict(merged_state_dict(src))
        return model
