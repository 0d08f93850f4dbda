"""FaultPlan: the faults a test or scenario injects, as data (pydantic; loadable from YAML).

Times are virtual seconds since the emulator's clock started (`at_s`), or since a job first
became RUNNING (`after_running_s`), or a training step (`at_step`, counted in optimizer steps).
`job` is a job id or "*" for every job. Each fault that fires is an event in the log.

Each kind is a class that acts through its own hooks (`arm`, `on_running`, `on_step`,
`hold_for`, `on_request`, `healthz_down`, `on_checkpoint_write`, `on_activity`), called by the
control plane with a `FaultHost` (emulator/_fault_arming.py): the one declared interface a fault
may use. The `Fault` union, the YAML kinds and the hypothesis strategies are all derived from
`FAULT_TYPES`, so a new kind is one class here.
"""

from __future__ import annotations

import fnmatch
import random
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from .errors import FaultPlanError
from .states import JobState

if TYPE_CHECKING:
    from ._fault_arming import FaultHost
    from .records import Job

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
    "HotLoadFailure",
    "TokenLatency",
    "Fault",
    "FaultPlan",
    "FaultBase",
    "FAULT_TYPES",
    "fault_kinds",
]


class FaultBase(BaseModel):
    """What every fault kind can do; each hook does nothing unless the kind overrides it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # `HttpFault(at_s=5)` -> "unknown key 'at_s' (did you mean 'from_s'?)", as the CLI says
        from ._validate import reject_unknown_keys

        return reject_unknown_keys(cls, data)

    def target(self) -> str:
        """The job pattern this fault addresses ("" when it addresses none)."""
        return getattr(self, "job", "")

    def arm(self, host: FaultHost) -> None:
        """The fault was injected: schedule what it does on the clock."""

    def on_running(self, host: FaultHost, job: Job) -> None:
        """`job` became RUNNING."""

    def on_step(self, host: FaultHost, job: Job, step: int) -> None:
        """`job`'s trainer finished optimizer step `step`."""

    def on_activity(self, host: FaultHost, job: Job) -> bool:
        """Trainer traffic for `job`; True when this fault took charge of it."""
        return False

    def hold_for(self, host: FaultHost, job: Job, state: JobState) -> float | None:
        """How long `job` stays in the transitional `state` (None: not this fault's business)."""
        return None

    def on_request(self, host: FaultHost, method: str, route: str, path: str) -> bool:
        """True when this request is to be hit by the fault (HTTP faults)."""
        return False

    def healthz_down(self, host: FaultHost, job: Job) -> bool:
        return False

    def on_checkpoint_write(self, host: FaultHost, job: Job) -> bool:
        """True when this checkpoint write (the job's `job.saves`-th) is to fail."""
        return False


class _FaultBase(FaultBase):
    job: str = "*"


class _Timed(_FaultBase):
    """A fault that acts on jobs once, at a time, a time after RUNNING, or a step."""

    at_s: float | None = Field(None, ge=0)
    after_running_s: float | None = Field(None, ge=0)
    at_step: int | None = Field(None, ge=1)
    # Which states the fault can act in; others log it as not fired.
    live_states: ClassVar[tuple[JobState, ...]] = (JobState.RUNNING, JobState.IDLE)

    @model_validator(mode="after")
    def _one_trigger(self):
        given = [x for x in (self.at_s, self.after_running_s, self.at_step) if x is not None]
        if len(given) != 1 and not getattr(self, "rate_per_hour", None):
            raise ValueError("give exactly one of at_s, after_running_s, at_step")
        return self

    def arm(self, host: FaultHost) -> None:
        if self.at_s is not None:
            host.schedule_at(self.at_s, lambda: self.fire_all(host), self.kind)

    def on_running(self, host: FaultHost, job: Job) -> None:
        if (
            self.after_running_s is not None
            and host.matches(self.job, job)
            and self._use(host, job)
        ):
            host.schedule_in(self.after_running_s, lambda: self.fire(host, job), self.kind)

    def on_step(self, host: FaultHost, job: Job, step: int) -> None:
        if self.at_step == step and host.matches(self.job, job) and self._use(host, job):
            self.fire(host, job)

    def _use(self, host: FaultHost, job: Job) -> bool:
        return host.use(self, job, limit=getattr(self, "count", 1) or 1)

    def fire_all(self, host: FaultHost) -> None:
        targets = host.jobs_matching(self.job)
        if not targets:
            host.log(f"fault.{self.kind}", job=self.job, fired=False, reason="no such job")
        for job in targets:
            self.fire(host, job)

    def fire(self, host: FaultHost, job: Job) -> None:
        if job.state not in self.live_states:
            host.log(
                f"fault.{self.kind}",
                job.account,
                job.id,
                fired=False,
                state=job.state.value if job.state else None,
            )
            return
        host.log(f"fault.{self.kind}", job.account, job.id, fired=True)
        self.act(host, job)

    def act(self, host: FaultHost, job: Job) -> None:  # pragma: no cover - each kind has one
        raise NotImplementedError


class Preempt(_Timed):
    """The job's pod dies: RUNNING -> [via, held hold_s] -> FAILED; the trainer is killed
    (SIGTERM, grace, SIGKILL). With `rate_per_hour`, arrivals are Poisson from `at_s`
    (default 0) to `until_s`."""

    kind: Literal["preempt"] = "preempt"
    via: Literal["CREATING", "PENDING", "DELETING"] | None = None
    hold_s: float = Field(0.0, ge=0)
    reason: str = "preempted"
    rate_per_hour: float | None = Field(None, ge=1e-6)  # smaller underflows to a zero rate
    until_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _rate_window(self):
        if self.rate_per_hour and self.until_s is None:
            raise ValueError("rate_per_hour needs until_s (the end of the window)")
        return self

    def arm(self, host: FaultHost) -> None:
        if not self.rate_per_hour:
            return super().arm(host)
        shared = host.rng("faults")
        # Arrivals start at at_s or now, whichever is later: none land in the past.
        start = max(self.at_s or 0.0, host.elapsed())
        assert self.until_s is not None
        until_s: float = self.until_s  # narrowed for the closure below
        rate = self.rate_per_hour / 3600.0
        # Lazily: one arrival on the clock at a time, the next drawn when it fires, from a copy
        # of the shared stream as it stands now. The shared stream then skips the draws this
        # fault will make (floats only, nothing scheduled), so later faults see the numbers
        # they saw when arrivals were all scheduled at once: same seed, same log.
        own = random.Random()
        own.setstate(shared.getstate())
        t = start
        while True:
            t += shared.expovariate(rate)
            if t >= self.until_s:
                break

        def arrive(t: float) -> None:
            nxt = t + own.expovariate(rate)
            if nxt < until_s:
                host.schedule_at(nxt, lambda: arrive(nxt), "preempt")
            if t > start:
                self.fire_all(host)

        arrive(start)

    def act(self, host: FaultHost, job: Job) -> None:
        host.preempt(job, self.reason, via=self.via, hold_s=self.hold_s)


class NodeFailure(_Timed):
    """One node of the job fails; the whole job fails with an INTERNAL status."""

    kind: Literal["node_failure"] = "node_failure"
    node: int = Field(0, ge=0)

    def act(self, host: FaultHost, job: Job) -> None:
        host.preempt(job, f"node {self.node} failed", code="INTERNAL")


class HoldState(_FaultBase):
    """A transitional state lasts `seconds` for matching jobs (`count` times; 0 = always)."""

    kind: Literal["hold_state"] = "hold_state"
    state: Literal["CREATING", "PENDING", "CANCELLING", "DELETING"]
    seconds: float = Field(ge=0)
    count: int = Field(0, ge=0)

    def hold_for(self, host: FaultHost, job: Job, state: JobState) -> float | None:
        if self.state != state.value or not host.matches(self.job, job):
            return None
        if not host.use(self, None, limit=self.count):
            return None
        host.log("fault.hold_state", job.account, job.id, state=state.value, seconds=self.seconds)
        return self.seconds


class CapacityStarvation(FaultBase):
    """A pool has `accelerators` free-able accelerators from at_s for duration_s."""

    kind: Literal["capacity"] = "capacity"
    at_s: float = Field(0.0, ge=0)
    duration_s: float | None = Field(None, gt=0)
    accelerator_type: str = "*"
    region: str = "*"
    accelerators: int = Field(0, ge=0)

    def target(self) -> str:
        return ""

    def arm(self, host: FaultHost) -> None:
        host.schedule_at(self.at_s, lambda: host.starve(self, True), "cap")
        if self.duration_s:
            host.schedule_at(
                self.at_s + self.duration_s, lambda: host.starve(self, False), "cap-end"
            )


class HttpFault(FaultBase):
    """Matching requests get an error, a delay, a dropped connection, or succeed on the server
    with the response lost. `route` is a route name (`<dialect>.jobs.create`; a short name like
    `jobs.create` matches that route of every dialect) or a path glob (`/v1/*`)."""

    kind: Literal["http"] = "http"
    route: str
    method: str = "*"
    status: int | None = Field(None, ge=400, le=599)
    retry_after_s: float | None = Field(None, ge=0)
    latency_s: float = Field(0.0, ge=0)
    reset: bool = False
    lose_response: bool = False
    count: int = Field(1, ge=0)  # 0 = unlimited
    skip: int = Field(0, ge=0)  # let the first `skip` matches through
    from_s: float = Field(0.0, ge=0)
    until_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _has_effect(self):
        if self.status is None and not (self.reset or self.latency_s or self.lose_response):
            raise ValueError("an http fault needs status, reset, latency_s or lose_response")
        if self.lose_response and self.status is None and not self.reset:
            raise ValueError("lose_response needs a status (e.g. 503) or reset: true")
        return self

    def target(self) -> str:
        return ""

    def matches_route(self, route: str, path: str) -> bool:
        return (
            self.route == route
            or route.endswith("." + self.route)  # see route_matches
            or fnmatch.fnmatchcase(path, self.route)
        )

    def on_request(self, host: FaultHost, method: str, route: str, path: str) -> bool:
        if self.method not in ("*", method.upper()) or not self.matches_route(route, path):
            return False
        t = host.elapsed()
        if t < self.from_s or (self.until_s is not None and t >= self.until_s):
            return False
        seen = host.count(self)
        if seen < self.skip or (self.count and seen >= self.skip + self.count):
            return False
        host.log(
            "fault.http",
            route=route,
            method=method.upper(),
            status=self.status,
            reset=self.reset,
            lose_response=self.lose_response,
            latency_s=self.latency_s,
        )
        return True


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

    def healthz_down(self, host: FaultHost, job: Job) -> bool:
        t = host.elapsed()
        return (
            host.matches(self.job, job)
            and t >= self.at_s
            and (self.until_s is None or t < self.until_s)
            and (t - self.at_s) % self.period_s < self.down_s
        )


class ExternalCancel(_Timed):
    """Someone else (a console user, a quota system) cancels the job."""

    kind: Literal["cancel"] = "cancel"
    live_states: ClassVar[tuple[JobState, ...]] = (
        JobState.PENDING,
        JobState.CREATING,
        JobState.RUNNING,
        JobState.IDLE,
    )

    def act(self, host: FaultHost, job: Job) -> None:
        host.cancel(job, "cancelled externally")


class IdleAutoStop(_FaultBase):
    """A RUNNING job with no trainer traffic for `after_s` is stopped to PAUSED. Without
    `after_s` the job's own inactivity timeout is used."""

    kind: Literal["idle_stop"] = "idle_stop"
    after_s: float | None = Field(None, gt=0)

    def arm(self, host: FaultHost) -> None:
        for job in host.jobs_matching("*"):
            if job.state == JobState.RUNNING:
                host.arm_idle(job)

    def on_activity(self, host: FaultHost, job: Job) -> bool:
        if not host.matches(self.job, job):
            return False
        after = self.after_s or job.spec.inactivity_timeout_s
        if not after:
            return False
        host.watch_idle(job, after)
        return True


class TrainerCrash(_Timed):
    """The trainer process exits on its own; the job goes FAILED with the exit reason.
    `count` > 1 repeats it after each resume (a crash loop)."""

    kind: Literal["trainer_crash"] = "trainer_crash"
    count: int = Field(1, ge=1)
    exit_code: int = 1

    def act(self, host: FaultHost, job: Job) -> None:
        host.crash(job, self.exit_code)


class CheckpointWriteFailure(_FaultBase):
    """The `nth` checkpoint save of the job (1-based) fails half-way through its write."""

    kind: Literal["checkpoint_write_failure"] = "checkpoint_write_failure"
    nth: int = Field(1, ge=1)
    kill_trainer: bool = False

    def on_checkpoint_write(self, host: FaultHost, job: Job) -> bool:
        if self.nth != job.saves or not host.matches(self.job, job):
            return False
        host.log("fault.checkpoint_write_failure", job.account, job.id, nth=self.nth)
        return True


class HotLoadFailure(_FaultBase):
    """Loading new weights into a serving job fails: the load of a snapshot whose identity
    matches `identity` (a glob) ends in error, `count` times (0 = always). Asked by the serving
    job's dialect through `on_hot_load` before each load."""

    kind: Literal["hot_load_failure"] = "hot_load_failure"
    identity: str = Field("*", description="glob of the snapshot identities whose load fails")
    count: int = Field(1, ge=0, description="how many loads fail (0 = every matching load)")
    message: str = Field(
        "injected hot-load failure: the serving replica could not load the snapshot",
        description="the error the serving job reports",
    )

    def on_hot_load(self, host: FaultHost, job: Job, identity: str) -> bool:
        if not host.matches(self.job, job) or not fnmatch.fnmatchcase(identity, self.identity):
            return False
        if not host.use(self, None, limit=self.count):
            return False
        host.log("fault.hot_load_failure", job.account, job.id, identity=identity)
        return True


class TokenLatency(_FaultBase):
    """A serving job generates slowly: each generated token costs `per_token_s` seconds of the
    emulator's clock (virtual: the clock advances; wall/scaled: the response waits), from
    `from_s` until `until_s`. Asked by the serving job's dialect through `token_latency`."""

    kind: Literal["token_latency"] = "token_latency"
    per_token_s: float = Field(
        gt=0, description="seconds of the emulator's clock each generated token costs"
    )
    from_s: float = Field(0.0, ge=0)
    until_s: float | None = Field(None, gt=0)

    def token_latency(self, host: FaultHost, job: Job) -> float:
        t = host.elapsed()
        if (
            not host.matches(self.job, job)
            or t < self.from_s
            or (self.until_s is not None and t >= self.until_s)
        ):
            return 0.0
        return self.per_token_s


FAULT_TYPES: tuple[type[FaultBase], ...] = (
    Preempt,
    NodeFailure,
    HoldState,
    CapacityStarvation,
    HttpFault,
    HealthzFlap,
    ExternalCancel,
    IdleAutoStop,
    TrainerCrash,
    CheckpointWriteFailure,
    HotLoadFailure,
    TokenLatency,
)

if TYPE_CHECKING:  # a Union over a runtime tuple is beyond mypy: every kind is a FaultBase
    Fault: TypeAlias = FaultBase
else:
    Fault = Annotated[Union[FAULT_TYPES], Field(discriminator="kind")]
_fault_adapter: TypeAdapter[Any] = TypeAdapter(Fault)


def fault_kinds() -> dict[str, type[FaultBase]]:
    """Every fault kind by its YAML `kind` name."""
    return {t.model_fields["kind"].default: t for t in FAULT_TYPES}


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    faults: list[Fault] = Field(default_factory=list)

    @classmethod
    def of(cls, *faults: Fault) -> FaultPlan:
        return cls(faults=list(faults))

    @classmethod
    def from_yaml(cls, source: str | Path) -> FaultPlan:
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
