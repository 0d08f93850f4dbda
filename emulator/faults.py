"""FaultPlan: the faults a test or scenario injects, as data (pydantic; loadable from YAML).

Times are virtual seconds since the emulator's clock started (`at_s`), or since a job first
became RUNNING (`after_running_s`), or a training step (`at_step`, counted in optimizer steps).
`job` is a job id or "*" for every job. Each fault that fires is an event in the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .errors import FaultPlanError

__all__ = [
    "Preempt",
    "NodeFailure",
    "HoldState",
    "CapacityStarvation",
    "HttpFault",
    "HealthzFlap",
    "ExternalCancel",
    "IdleAutoStop",
    "TrainerCrash",
    "CheckpointWriteFailure",
    "Fault",
    "FaultPlan",
]


class _FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    job: str = "*"


class _Timed(_FaultBase):
    at_s: float | None = Field(None, ge=0)
    after_running_s: float | None = Field(None, ge=0)
    at_step: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_trigger(self):
        given = [x for x in (self.at_s, self.after_running_s, self.at_step) if x is not None]
        if len(given) != 1 and not getattr(self, "rate_per_hour", None):
            raise ValueError("give exactly one of at_s, after_running_s, at_step")
        return self


class Preempt(_Timed):
    """The job's pod dies: RUNNING -> [via, held hold_s] -> FAILED; the trainer is killed
    (SIGTERM, grace, SIGKILL). With `rate_per_hour`, arrivals are Poisson from `at_s`
    (default 0) to `until_s`."""

    kind: Literal["preempt"] = "preempt"
    via: Literal["CREATING", "PENDING", "DELETING"] | None = None
    hold_s: float = Field(0.0, ge=0)
    reason: str = "preempted"
    rate_per_hour: float | None = Field(None, gt=0)
    until_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _rate_window(self):
        if self.rate_per_hour and self.until_s is None:
            raise ValueError("rate_per_hour needs until_s (the end of the window)")
        return self


class NodeFailure(_Timed):
    """One node of the job fails; the whole job fails with an INTERNAL status."""

    kind: Literal["node_failure"] = "node_failure"
    node: int = Field(0, ge=0)


class HoldState(_FaultBase):
    """A transitional state lasts `seconds` for matching jobs (`count` times; 0 = always)."""

    kind: Literal["hold_state"] = "hold_state"
    state: Literal["CREATING", "PENDING", "CANCELLING", "DELETING"]
    seconds: float = Field(ge=0)
    count: int = Field(0, ge=0)


class CapacityStarvation(BaseModel):
    """A pool has `accelerators` free-able accelerators from at_s for duration_s."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["capacity"] = "capacity"
    at_s: float = Field(0.0, ge=0)
    duration_s: float | None = Field(None, gt=0)
    accelerator_type: str = "*"
    region: str = "*"
    accelerators: int = Field(0, ge=0)


class HttpFault(BaseModel):
    """Matching requests get an error, a delay, a dropped connection, or succeed on the server
    with the response lost. `route` is a route name (e.g. `jobs.create`) or a path glob."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["http"] = "http"
    route: str
    method: str = "*"
    status: int | None = Field(None, ge=400, le=599)
    retry_after_s: float | None = Field(None, ge=0)
    latency_s: float = Field(0.0, ge=0)
    reset: bool = False
    lose_response: bool = False
    count: int = Field(1, ge=0)  # 0 = unlimited
    skip: int = Field(0, ge=0)   # let the first `skip` matches through
    from_s: float = Field(0.0, ge=0)
    until_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _has_effect(self):
        if self.status is None and not (self.reset or self.latency_s or self.lose_response):
            raise ValueError("an http fault needs status, reset, latency_s or lose_response")
        if self.lose_response and self.status is None and not self.reset:
            raise ValueError("lose_response needs a status (e.g. 503) or reset: true")
        return self


class HealthzFlap(_FaultBase):
    """The trainer's healthz answers 503 for `down_s` out of every `period_s`."""

    kind: Literal["healthz_flap"] = "healthz_flap"
    at_s: float = Field(0.0, ge=0)
    period_s: float = Field(gt=0)
    down_s: float = Field(gt=0)
    until_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _down_in_period(self):
        if self.down_s >= self.period_s:
            raise ValueError("down_s must be shorter than period_s")
        return self


class ExternalCancel(_Timed):
    """Someone else (a console user, a quota system) cancels the job."""

    kind: Literal["cancel"] = "cancel"


class IdleAutoStop(_FaultBase):
    """A RUNNING job with no trainer traffic for `after_s` is stopped to PAUSED. Without
    `after_s` the job's own inactivity timeout is used."""

    kind: Literal["idle_stop"] = "idle_stop"
    after_s: float | None = Field(None, gt=0)


class TrainerCrash(_Timed):
    """The trainer process exits on its own; the job goes FAILED with the exit reason.
    `count` > 1 repeats it after each resume (a crash loop)."""

    kind: Literal["trainer_crash"] = "trainer_crash"
    count: int = Field(1, ge=1)
    exit_code: int = 1


class CheckpointWriteFailure(_FaultBase):
    """The `nth` checkpoint save of the job (1-based) fails half-way through its write."""

    kind: Literal["checkpoint_write_failure"] = "checkpoint_write_failure"
    nth: int = Field(1, ge=1)
    kill_trainer: bool = False


Fault = Annotated[
    Union[Preempt, NodeFailure, HoldState, CapacityStarvation, HttpFault, HealthzFlap,
          ExternalCancel, IdleAutoStop, TrainerCrash, CheckpointWriteFailure],
    Field(discriminator="kind"),
]
_fault_adapter: TypeAdapter[Fault] = TypeAdapter(Fault)


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    faults: list[Fault] = Field(default_factory=list)

    @classmethod
    def of(cls, *faults: Fault) -> "FaultPlan":
        return cls(faults=list(faults))

    @classmethod
    def from_yaml(cls, source: str | Path) -> "FaultPlan":
        """Load from a YAML file path or YAML text; errors become `FaultPlanError`."""
        text = Path(source).read_text() if isinstance(source, Path) else source
        try:
            data = yaml.safe_load(text) or {}
            if isinstance(data, list):
                data = {"faults": data}
            return cls.model_validate(data)
        except (yaml.YAMLError, ValidationError) as exc:
            raise FaultPlanError(f"invalid fault plan: {exc}") from exc

    @staticmethod
    def parse_fault(data: dict) -> Fault:
        return _fault_adapter.validate_python(data)
