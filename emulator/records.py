"""The control plane's records: tenants, job specs and jobs, checkpoints, models, timings, and
the restart policy the core applies when a job fails under it.

Neutral on purpose: a dialect keeps what only its service has in `Job.payload`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .clock import ScheduledEvent
from .shapes import BaseModelEntry, TrainingShapeVersion
from .states import JobState

__all__ = [
    "Timings",
    "Account",
    "JobSpec",
    "Job",
    "CheckpointRecord",
    "ModelRecord",
    "RestartPolicy",
]


class Timings(BaseModel):
    """How long transitional states last, in virtual seconds (HoldState faults override)."""

    model_config = ConfigDict(extra="forbid")
    provision_s: float = Field(30.0, ge=0)  # CREATING -> RUNNING
    cancel_s: float = Field(5.0, ge=0)  # CANCELLING -> CANCELLED
    delete_s: float = Field(5.0, ge=0)  # DELETING -> DELETED
    # A DELETED job (and its checkpoint rows) leaves the lists this long after: a server left
    # running does not grow without bound.
    deleted_retention_s: float = Field(86400.0, ge=0, allow_inf_nan=False)


class RestartPolicy(BaseModel):
    """What the core does when a job fails under it (preemption, node loss, trainer crash).

    none:    the job stays FAILED; the client resumes it (a service where clients resume).
    restart: the core starts it again from scratch, up to `max_restarts` times (a
             training step's restart policy).
    resume:  the core starts it again from its newest checkpoint, up to `max_restarts` times
             (a managed spot-capacity job).
    After `max_restarts` the job stays FAILED. Restarts wait `backoff_s` virtual seconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["none", "restart", "resume"] = "none"
    max_restarts: int = Field(0, ge=0)
    backoff_s: float = Field(0.0, ge=0)
    #: Which failures it covers: a preemption (the node was reclaimed), a node failure, a
    #: trainer crash, or a failure a dialect reports (`fail_job(cause="error")`).
    on: frozenset[Literal["preemption", "node_failure", "crash", "error"]] = frozenset(
        {"preemption", "node_failure", "crash"}
    )


NO_RESTART = RestartPolicy()


@dataclass
class Account:
    id: str
    api_keys: set[str]
    display_name: str = ""


@dataclass
class JobSpec:
    base_model: str
    lora_rank: int = 0
    learning_rate: float = 1e-5
    max_context_length: int | None = None
    training_shape: str | None = None  # as requested (versioned or not)
    node_count: int | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None
    region: str | None = None
    display_name: str = ""
    forward_only: bool = False
    preemptible: bool = False
    inactivity_timeout_s: float | None = None
    skip_validations: bool = False
    gradient_accumulation_steps: int = 1  # micro-batches (forward_backward calls) per update
    # This job's CREATING time (None: Timings.provision_s); a warm pooled trainer takes none.
    provision_s: float | None = None


@dataclass
class Job:
    account: str
    id: str
    spec: JobSpec
    state: JobState | None = None
    create_time: float = 0.0
    update_time: float = 0.0
    status_code: str = "OK"
    status_message: str = ""
    region: str = ""
    accelerator_type: str = ""
    accelerators: int = 0  # demand: per-node count x nodes
    node_count: int = 1
    shape_version: TrainingShapeVersion | None = None
    shape_version_name: str | None = None
    model: BaseModelEntry | None = None
    dialect: str = ""  # the dialect that created it (its name)
    payload: dict[str, Any] = field(default_factory=dict)  # the dialect's own data
    restart: RestartPolicy = NO_RESTART
    restarts: int = 0  # automatic restarts the core made under `restart`
    restore_from: str | None = None  # checkpoint location the next trainer start restores
    preempting: bool = False  # passing through a transitional state on its way to FAILED
    pending_until: float | None = None  # a HoldState keeps it queued until then
    resumes: int = 0
    preemptions: int = 0
    steps: int = 0
    saves: int = 0
    last_activity: float = 0.0
    next_event: ScheduledEvent | None = field(default=None, repr=False)
    idle_event: ScheduledEvent | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.id)

    @property
    def tenant(self) -> str:
        return self.account

    @property
    def max_context_length(self) -> int:
        if self.spec.max_context_length:
            return self.spec.max_context_length
        if self.shape_version:
            return self.shape_version.max_supported_context_length
        return self.model.context_length if self.model else 32768


@dataclass
class CheckpointRecord:
    account: str
    job: str
    name: str
    kind: str  # TRAINING, TRAINING_LORA, INFERENCE_BASE, INFERENCE_LORA
    promotable: bool
    create_time: float
    update_time: float
    location: str | None = None
    step: int | None = None


@dataclass
class ModelRecord:
    account: str
    id: str
    name: str  # the full name its dialect gave it; the catalog key
    base_model: str
    kind: str  # HF_BASE_MODEL, CUSTOM_MODEL, HF_PEFT_ADDON
    state: str
    create_time: float
    lora_rank: int = 0
    source_checkpoint: str | None = None
    source_job: str | None = None
    location: str | None = None
