"""Client programs a scenario runs against the emulator, by name.

A workload is a function `run(ctx, params)` plus a pydantic model of its parameters. It runs in
the scenario's thread under client-side virtual time, talks to the emulator over HTTP with a real
client library (or drydock.sdk), and reports what it did as `workload.*` events through
`ctx.log`, which land in the same event log as the emulator's own events. It signals a failed
run by raising; the runner records the error as the run's outcome.

Built in: `lifecycle` (here), `sft-fireworks`, `sft-drydock`, `sft-broken` (workloads_sft.py).
Your own: `workload: {name: "mypkg.module:function"}` imports `function` (from $PYTHONPATH or
the current directory); see `load_workload` and the event contract of `WorkloadEvents`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from drydock.wire import fireworks as fw

if TYPE_CHECKING:
    from fireworks.training.sdk.trainer import TrainerJobConfig

    from drydock.emulator import Emulator

    from .spec import JobDecl, Scenario

__all__ = [
    "WorkloadInfo",
    "WorkloadContext",
    "WorkloadEvents",
    "UnknownWorkload",
    "workload",
    "register_workload",
    "get_workload",
    "load_workload",
    "workload_names",
    "missing_extras",
    "missing_modules",
    "LifecycleParams",
    "fireworks_config",
]


@dataclass(frozen=True)
class WorkloadInfo:
    name: str
    params: type[BaseModel]
    run: Callable[[WorkloadContext, Any], None]
    description: str
    needs_trainer: bool = False  # runs a torch trainer behind each RUNNING job
    # Client libraries the workload imports: {top-level module: the drydock extra that installs it}.
    requires: Mapping[str, str] = field(default_factory=dict)
    # `workload.*` kinds it logs beyond WORKLOAD_EVENT_KINDS (what `expect.events` may name).
    event_kinds: tuple[str, ...] = ()


_REGISTRY: dict[str, WorkloadInfo] = {}

_Workload = TypeVar("_Workload", bound=Callable[..., None])


def register_workload(
    name: str,
    params: type[BaseModel],
    *,
    description: str,
    needs_trainer: bool = False,
    requires: Mapping[str, str] | None = None,
    event_kinds: tuple[str, ...] = (),
) -> Callable[[_Workload], _Workload]:
    """Decorator: make `fn(ctx, params)` available to scenario files as `workload: {name: ...}`.

    `requires`: the client libraries `fn` imports, each with the extra that installs it
    (e.g. `{"fireworks": "fireworks"}`); a trainer workload also requires torch (`trainer`)."""

    def deco(fn: _Workload) -> _Workload:
        needs = {**({"torch": "trainer"} if needs_trainer else {}), **(requires or {})}
        _REGISTRY[name] = WorkloadInfo(
            name, params, fn, description, needs_trainer, needs, tuple(event_kinds)
        )
        return fn

    return deco


def missing_extras(info: WorkloadInfo) -> list[tuple[str, str]]:
    """(module, extra) for each library the workload needs that is not installed."""
    return missing_modules(info.requires)


def missing_modules(requires: Mapping[str, str]) -> list[tuple[str, str]]:
    """(module, extra) for each `{module: extra}` whose module is not installed."""
    missing = []
    for module, extra in requires.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append((module, extra))
    return missing


def _load_builtins() -> None:
    from . import (
        workloads_capabilities,  # noqa: F401  (embedding, accumulation, adapter workloads)
        workloads_kubeflow,  # noqa: F401  (the kubeflow SDK workload)
        workloads_rl,  # noqa: F401  (registers the RL workloads)
        workloads_sagemaker,  # noqa: F401  (the sagemaker SDK workload)
        workloads_serverless,  # noqa: F401  (the Fireworks serverless workload)
        workloads_sft,  # noqa: F401  (registers the training workloads)
    )


class UnknownWorkload(KeyError):
    """No built-in workload of that name, or a `module:function` that cannot be imported."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def get_workload(name: str) -> WorkloadInfo:
    """A built-in workload by name, or a user's importable one as `"package.module:function"`."""
    if ":" in name:
        return load_workload(name)
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        from drydock.emulator._suggest import did_you_mean

        raise UnknownWorkload(
            f"unknown workload {name!r}{did_you_mean(name, _REGISTRY)} (built "
            f"in: {', '.join(workload_names())}; or name your own as "
            "'package.module:function')"
        ) from None


class _FreeParams(BaseModel):
    """Parameters of a user workload that declares no model: any keys, passed as a dict."""

    model_config = ConfigDict(extra="allow")


def workload(
    *, params: type[BaseModel] | None = None, needs_trainer: bool = True, description: str = ""
) -> Callable[[_Workload], _Workload]:
    """Decorator for your own workload `fn(ctx, params)`, named in a scenario file as
    `workload: {name: "your.module:fn"}`. `params` validates `workload.params` (default: the
    annotation of `fn`'s second argument when it is a pydantic model, else a plain dict);
    `needs_trainer=False` runs no torch trainer behind the jobs (control-plane-only programs)."""

    def deco(fn: _Workload) -> _Workload:
        cast(Any, fn).__drydock_workload__ = _info_for(
            fn, f"{fn.__module__}:{fn.__qualname__}", params, needs_trainer, description
        )
        return fn

    return deco


def _info_for(
    fn: Callable[..., None],
    name: str,
    params: type[BaseModel] | None,
    needs_trainer: bool,
    description: str,
) -> WorkloadInfo:
    if params is None:
        sig = list(inspect.signature(fn).parameters.values())
        ann = sig[1].annotation if len(sig) > 1 else None
        if isinstance(ann, str):  # `from __future__ import annotations`
            ann = getattr(sys.modules.get(fn.__module__), ann, None)
        params = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if params is None:
        run = lambda ctx, p: fn(ctx, p.model_dump())
        params = _FreeParams
    else:
        run = fn
    doc = description or (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
    return WorkloadInfo(name, params, run, doc, needs_trainer)


def load_workload(ref: str) -> WorkloadInfo:
    """Import `"package.module:function"` (the current directory is searched too, after
    $PYTHONPATH). Undecorated functions run with a trainer and get `params` as a dict."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise UnknownWorkload(f"workload {ref!r}: name it as 'package.module:function'")
    if "" not in sys.path and "." not in sys.path:
        sys.path.append("")  # like `python -m`: a module beside the scenario run works
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownWorkload(
            f"workload {ref!r}: cannot import {module_name!r} ({exc}); is its folder on PYTHONPATH?"
        ) from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise UnknownWorkload(f"workload {ref!r}: module {module_name!r} has no function {attr!r}")
    info = getattr(fn, "__drydock_workload__", None)
    return info if isinstance(info, WorkloadInfo) else _info_for(fn, ref, None, True, "")


def workload_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


@dataclass
class WorkloadContext:
    """What a workload gets: the scenario, the emulator, where to reach it, and a logger."""

    scenario: Scenario
    emulator: Emulator
    base_url: str
    api_key: str
    account: str
    jobs: list[JobDecl] = field(default_factory=list)  # the jobs this workload creates

    def log(self, kind: str, job: str = "", **detail: Any) -> None:
        """Append a `workload.<kind>` event at the current virtual time."""
        self.emulator.control_plane.log(f"workload.{kind}", self.account, job, **detail)

    @property
    def events(self) -> WorkloadEvents:
        """The `workload.*` events that expectations read, as methods."""
        return WorkloadEvents(self)

    def clean(self, text: str) -> str:
        """An error message without this run's server address (ports differ run to run)."""
        if self.base_url:
            text = text.replace(self.base_url, "http://drydock")
        return re.sub(r"https?://127\.0\.0\.1:\d+", "http://drydock", text)

    def error_line(self, exc: BaseException, limit: int = 200, *, typed: bool = True) -> str:
        """An error for the event log: its first line, cleaned (`clean`), cut at `limit`
        characters; `typed`: after the exception's class name."""
        text = self.clean(str(exc)).strip().splitlines()
        first = text[0][:limit] if text else ""
        return f"{type(exc).__name__}: {first}" if typed else first

    def now(self) -> float:
        return self.emulator.clock.elapsed()


class WorkloadEvents:
    """The event contract between a workload and a scenario's `expect:` block.

    Each method appends one `workload.<name>` event, at the current virtual time, as the thing
    happens (never batched at the end: the timeline and `no_checkpoint_lost` read the order).

    | event | emit it | read by |
    |---|---|---|
    | `workload.create` | before creating a job | timeline |
    | `workload.ready` | when the job's trainer is reachable | timeline |
    | `workload.step` (`step`, `loss`) | after each optimizer step completed | `min_steps`, `loss_below`, live view |
    | `workload.saved` (`name`, `step`, `checkpoint`?: the id the job lists it by, when not `name`) | after a checkpoint save *returned* | `no_checkpoint_lost` |
    | `workload.interrupted` (`phase`, `step`, `error`) | when a call failed (preemption...) | timeline |
    | `workload.reconnect` / `reconnected` / `reconnect_failed` (`attempt`) | around each reconnect | timeline |
    | `workload.resumed` (`name`, `step`) | after loading a checkpoint (`name` None, `step` 0: from scratch) | `no_checkpoint_lost` |
    | `workload.trained` (`steps`) | when training finished | timeline |
    | `workload.delete` | after deleting a job | timeline |

    The runner itself logs `workload.start` and `workload.end` (`outcome`, `error`).
    """

    def __init__(self, ctx: WorkloadContext) -> None:
        self._log = ctx.log

    def create(self, job: str) -> None:
        self._log("create", job)

    def ready(self, job: str) -> None:
        self._log("ready", job)

    def step(self, job: str, step: int, loss: float | None = None) -> None:
        self._log("step", job, step=step, loss=None if loss is None else round(loss, 6))

    def saved(self, job: str, name: str, step: int) -> None:
        self._log("saved", job, name=name, step=step)

    def interrupted(self, job: str, phase: str, step: int, error: str) -> None:
        self._log("interrupted", job, phase=phase, step=step, error=error)

    def reconnect(self, job: str, attempt: int) -> None:
        self._log("reconnect", job, attempt=attempt)

    def reconnected(self, job: str, attempt: int) -> None:
        self._log("reconnected", job, attempt=attempt)

    def reconnect_failed(self, job: str, attempt: int, error: str) -> None:
        self._log("reconnect_failed", job, attempt=attempt, error=error)

    def resumed(self, job: str, name: str | None, step: int) -> None:
        self._log("resumed", job, name=name, step=step)

    def trained(self, job: str, steps: int) -> None:
        self._log("trained", job, steps=steps)

    def delete(self, job: str) -> None:
        self._log("delete", job)


#: The `workload.*` kinds of the contract (plus the runner's `start` and `end`).
WORKLOAD_EVENT_KINDS: tuple[str, ...] = tuple(
    f"workload.{k}"
    for k in (
        "start",
        "end",
        "create",
        "ready",
        "step",
        "saved",
        "interrupted",
        "reconnect",
        "reconnected",
        "reconnect_failed",
        "resumed",
        "trained",
        "delete",
        "unhealthy",
        "held",
    )
)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def fireworks_config(job: JobDecl) -> TrainerJobConfig:
    """The real SDK's `TrainerJobConfig` for a scenario job (its id as `requested_job_id`)."""
    from fireworks.training.sdk.trainer import TrainerJobConfig

    kwargs: dict[str, Any] = dict(
        base_model=job.base_model,
        lora_rank=job.lora_rank,
        learning_rate=job.learning_rate,
        requested_job_id=job.id,
        max_context_length=job.max_context_length,
        region=job.region,
        display_name=job.display_name,
        preemptible=job.preemptible,
    )
    if job.shape:
        kwargs["training_shape_ref"] = job.shape
    else:
        kwargs.update(
            accelerator_type=job.accelerator_type,
            accelerator_count=job.accelerator_count,
            node_count=job.node_count,
        )
    if job.inactivity_timeout_s:
        kwargs["inactivity_timeout"] = fw.format_duration(
            timedelta(seconds=job.inactivity_timeout_s)
        )
    return TrainerJobConfig(**kwargs)


def reconnect(
    ctx: WorkloadContext,
    mgr: Any,
    job_id: str,
    *,
    budget: list[int],
    limit: int,
    timeout_s: float = 600.0,
    max_wait_for_resumable_s: float = 120.0,
    poll_interval_s: float = 5.0,
) -> Any:
    """`mgr.reconnect_and_wait`, retried: each failed call is logged and retried while the run's
    reconnect budget (`budget[0]`, shared by every job, initially `limit`) lasts; then
    `WorkloadGaveUp`."""
    from .errors import WorkloadGaveUp

    last, attempt = "", 0
    while budget[0] > 0:
        budget[0] -= 1
        attempt += 1
        ctx.log("reconnect", job_id, attempt=attempt)
        try:
            ep = mgr.reconnect_and_wait(
                job_id,
                poll_interval_s=poll_interval_s,
                timeout_s=timeout_s,
                max_wait_for_resumable_s=max_wait_for_resumable_s,
            )
        except Exception as exc:  # the SDK raises RuntimeError/TimeoutError: log, retry
            last = f"{type(exc).__name__}: {ctx.clean(str(exc)).splitlines()[0]}"
            ctx.log("reconnect_failed", job_id, attempt=attempt, error=last)
            continue
        ctx.log("reconnected", job_id, attempt=attempt)
        return ep
    raise WorkloadGaveUp(
        f"gave up on job {job_id}: all {limit} reconnect(s) allowed per run "
        f"(max_reconnects) are used" + (f"; last error: {last}" if last else "")
    )


# ------------------------------------------------------------------ lifecycle
class LifecycleParams(_Params):
    poll_interval_s: float = Field(5.0, gt=0, description="create_and_wait / reconnect poll")
    timeout_s: float = Field(900.0, gt=0, description="readiness deadline after placement")
    pending_timeout_s: float = Field(172800.0, gt=0, description="how long PENDING is tolerated")
    hold_s: float = Field(600.0, ge=0, description="keep the jobs healthy this long once ready")
    check_every_s: float = Field(30.0, gt=0, description="job GET cadence while holding")
    max_reconnects: int = Field(5, ge=0, description="reconnect_and_wait calls per run, at most")
    max_wait_for_resumable_s: float = Field(120.0, gt=0)
    delete_at_end: bool = True


@register_workload(
    "lifecycle",
    LifecycleParams,
    requires={"fireworks": "fireworks"},
    description=(
        "fireworks-ai TrainerJobManager: create_and_wait each job, keep them healthy for hold_s "
        "(GET every check_every_s; reconnect_and_wait when one is not RUNNING, retried up to "
        "max_reconnects), delete them at the end (also after an error)."
    ),
)
def lifecycle(ctx: WorkloadContext, p: LifecycleParams) -> None:
    from fireworks.training.sdk.trainer import TrainerJobManager

    mgr = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
    budget = [p.max_reconnects]
    try:
        for job in ctx.jobs:
            ctx.log("create", job.id)
            mgr.create(fireworks_config(job))
        for job in ctx.jobs:
            mgr.wait_for_ready(
                job.id,
                poll_interval_s=p.poll_interval_s,
                timeout_s=p.timeout_s,
                pending_timeout_s=p.pending_timeout_s,
            )
            ctx.log("ready", job.id)
        end = time.time() + p.hold_s
        while time.time() < end:
            time.sleep(min(p.check_every_s, max(0.0, end - time.time())))
            for job in ctx.jobs:
                state = mgr.get(job.id).get("state", "")
                if state == "JOB_STATE_RUNNING":
                    continue
                ctx.log("unhealthy", job.id, state=state)
                reconnect(
                    ctx,
                    mgr,
                    job.id,
                    budget=budget,
                    limit=p.max_reconnects,
                    timeout_s=p.timeout_s,
                    poll_interval_s=p.poll_interval_s,
                    max_wait_for_resumable_s=p.max_wait_for_resumable_s,
                )
        ctx.log("held", seconds=p.hold_s)
    finally:
        if p.delete_at_end:
            for job in ctx.jobs:
                mgr.delete(job.id)  # never raises (the SDK swallows errors)
                ctx.log("delete", job.id)
        mgr.close()
