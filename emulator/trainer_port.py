"""The trainer port: the few things a trainer may ask of the plane, and what it is told.

A trainer runtime (`drydock.trainer`, or a test double) sees the plane only through a
`TrainerHost`: a lock, an event log, where its data lives, how to resolve a model, and the hooks
that report progress (steps, checkpoints, a crash). What it knows about a job is a `TrainerJob`.
`PlaneTrainerHost` adapts today's `ControlPlane` to this port; it is the only code here that
touches the plane's attributes.

A runtime hands each RUNNING job's workers to the service's protocol layer through the
`JobRunner` / `TrainerIncarnation` protocols: neutral ops on plain data (`Example`, `Array`),
answered by callback.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .errors import NotFound
from .shapes import LocalModelConfig

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .faults import CheckpointWriteFailure

__all__ = [
    "NEUTRAL_OPS",
    "Array",
    "Example",
    "JobRunner",
    "OpDone",
    "PlaneTrainerHost",
    "ResolvedModel",
    "TrainerHost",
    "TrainerIncarnation",
    "TrainerJob",
    "as_trainer_host",
]

# The ops a trainer runs for a protocol layer (arguments and answers are plain data).
NEUTRAL_OPS = (
    "create_model",
    "forward",
    "forward_backward",
    "optim_step",
    "save_state",
    "save_for_sampler",
    "load_state",
    "unload",
)

OpDone = Callable[[bool, Any], None]
"""An op's answer: (True, payload) or (False, (category, message)); category "user"|"server"."""


@dataclass(frozen=True)
class Array:
    """A dense array: row-major flat `data`, its `shape`, dtype "int64" or "float32"."""

    data: list
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class Example:
    """One example for forward ops: the input token ids and per-position loss inputs (by name:
    target_tokens, weights, advantages, logprobs...), each an Array whose first dimension is
    len(tokens). A forward op answers {"outputs": [{name: Array}] (one per example),
    "metrics": {"<name>:<reduction>": float}}."""

    tokens: list[int]
    inputs: dict[str, Array]


class ResolvedModel(NamedTuple):
    """A model name resolved for a trainer: its catalog name, the local torch model that stands
    in for it, and where a promoted model's weights lie (None for a catalog base model)."""

    name: str
    config: LocalModelConfig
    promoted_location: str | None


@dataclass(frozen=True)
class TrainerJob:
    """What a trainer is told about the job it serves."""

    tenant: str
    job_id: str
    base_model: str  # the name the job was created with
    model_name: str  # the catalog base model it resolves to
    model_config: LocalModelConfig
    promoted_location: str | None = None  # a promoted model's weights (init weights)
    lora_rank: int = 0
    learning_rate: float = 1e-5
    max_context_length: int = 32768
    node_count: int = 1
    forward_only: bool = False
    gradient_accumulation_steps: int = 1  # micro-batches (forward_backward calls) per update
    weight_precision: str | None = None
    restore_from: str | None = None  # a checkpoint location to restore at start, or None

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.job_id)


class TrainerHost(Protocol):
    """The plane as a trainer sees it. Every hook may be called from any thread."""

    @property
    def lock(self) -> ContextManager[Any]:
        """The plane's (re-entrant) lock: hooks take it; a runtime may hold it around them."""

    @property
    def data_dir(self) -> Path:
        """Where trainers keep their files (checkpoints under `checkpoints/<tenant>/<job>`)."""

    def log(self, kind: str, tenant: str = "", job: str = "", **detail: Any) -> None: ...

    def describe(self, job: Any) -> TrainerJob:
        """The `TrainerJob` of a job the plane asks a runtime to start (same `key`)."""

    def record_step(self, tenant: str, job_id: str, step: int) -> None:
        """Optimizer step `step` finished (faults waiting for it fire here)."""

    def record_checkpoint(
        self,
        tenant: str,
        job_id: str,
        name: str,
        kind: str,
        promotable: bool,
        location: str | None = None,
        step: int | None = None,
    ) -> None: ...

    def before_checkpoint_write(self, tenant: str, job_id: str) -> CheckpointWriteFailure | None:
        """Called before each checkpoint write: the fault that makes this one fail, or None."""

    def report_crash(self, tenant: str, job_id: str, exit_code: int, reason: str) -> bool:
        """The trainer died on its own; False when the job was not running (nothing changed)."""

    def resolve_model(self, name: str, tenant: str | None = None) -> ResolvedModel: ...

    def touch(self, tenant: str, job_id: str) -> None:
        """Trainer traffic (resets the job's idle timer)."""

    def job_dirs(self, tenant: str) -> dict[str, Path]:
        """Checkpoint dirs of the tenant's jobs, by job id (cross-job loads)."""


class TrainerIncarnation(Protocol):
    """One start of a job's trainer (a preemption and a resume make two)."""

    number: int
    forward_only: bool

    @property
    def dead(self) -> bool: ...

    @property
    def ready(self) -> bool: ...

    def wait_started(self, timeout_s: float) -> None:
        """Block (outside any lock) until every node booted or failed, at most `timeout_s`."""

    def run(self, op: str, model_id: str, args: dict[str, Any], done: OpDone) -> None:
        """Run a neutral op; `done` is called once, under the host's lock (never if the
        incarnation died first). Call with the host's lock held, in the order ops must run."""

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` (under the host's lock) when this incarnation is stopped."""


class JobRunner(Protocol):
    """A runtime's handle on one job across its incarnations."""

    tenant: str
    job_id: str
    attachments: dict[str, Any]
    """State a service's protocol layer keeps with the job's trainer (it goes with the runner)."""

    @property
    def live(self) -> TrainerIncarnation | None: ...


class PlaneTrainerHost:
    """`TrainerHost` over the `ControlPlane`: the only place that reads the plane's attributes."""

    def __init__(self, cp: ControlPlane) -> None:
        self._cp = cp

    @property
    def lock(self) -> ContextManager[Any]:
        return self._cp.lock

    @property
    def data_dir(self) -> Path:
        return Path(self._cp.data_dir) if self._cp.data_dir is not None else Path(".drydock")

    def log(self, kind: str, tenant: str = "", job: str = "", **detail: Any) -> None:
        self._cp.log(kind, tenant, job, **detail)

    def describe(self, job: Any) -> TrainerJob:
        if isinstance(job, TrainerJob):
            return job
        spec = job.spec
        try:
            _, promoted = self._cp.resolve_base_model(spec.base_model)
        except NotFound:  # another service's model name: nothing to start from
            promoted = None
        shape = job.shape_version
        return TrainerJob(
            tenant=job.account,
            job_id=job.id,
            base_model=spec.base_model,
            model_name=job.model.name if job.model else spec.base_model,
            model_config=job.model.local if job.model else LocalModelConfig.model_validate({}),
            promoted_location=promoted.location if promoted is not None else None,
            lora_rank=spec.lora_rank,
            learning_rate=spec.learning_rate,
            max_context_length=job.max_context_length,
            node_count=max(1, job.node_count),
            forward_only=spec.forward_only,
            gradient_accumulation_steps=spec.gradient_accumulation_steps or 1,
            weight_precision=shape.base_model_weight_precision if shape else None,
            restore_from=getattr(job, "restore_from", None),
        )

    def record_step(self, tenant: str, job_id: str, step: int) -> None:
        self._cp.on_step(tenant, job_id, step)

    def record_checkpoint(
        self,
        tenant: str,
        job_id: str,
        name: str,
        kind: str,
        promotable: bool,
        location: str | None = None,
        step: int | None = None,
    ) -> None:
        self._cp.record_checkpoint(
            tenant, job_id, name, kind, promotable=promotable, location=location, step=step
        )

    def before_checkpoint_write(self, tenant: str, job_id: str) -> CheckpointWriteFailure | None:
        return self._cp.checkpoint_write_fails(tenant, job_id)

    def report_crash(self, tenant: str, job_id: str, exit_code: int, reason: str) -> bool:
        return self._cp.crash_trainer(tenant, job_id, exit_code=exit_code, reason=reason)

    def resolve_model(self, name: str, tenant: str | None = None) -> ResolvedModel:
        base, promoted = self._cp.resolve_base_model(name, tenant)
        return ResolvedModel(
            base.name, base.local, promoted.location if promoted is not None else None
        )

    def touch(self, tenant: str, job_id: str) -> None:
        self._cp.touch(tenant, job_id)

    def job_dirs(self, tenant: str) -> dict[str, Path]:
        root = self.data_dir / "checkpoints" / tenant
        return {job_id: root / job_id for (t, job_id) in list(self._cp.jobs) if t == tenant}


def as_trainer_host(plane_or_host: Any) -> TrainerHost:
    """A `TrainerHost` as is; anything else (today's `ControlPlane`) wrapped in the adapter."""
    if hasattr(plane_or_host, "record_step") and hasattr(plane_or_host, "describe"):
        return plane_or_host
    return PlaneTrainerHost(plane_or_host)
