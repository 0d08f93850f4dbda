"""The scenario file format: one YAML document, validated by pydantic, errors with line numbers.

name: preempt-mid-step
description: ...
seed: 7
clock: {mode: virtual}
timings: {provision_s: 60}
jobs:
  - {id: sft-main, base_model: accounts/fireworks/models/qwen3-0p6b,
     shape: accounts/fireworks/trainingShapes/qwen3-0p6b-32k-h100}
faults:                       # a drydock.emulator FaultPlan
  - {kind: preempt, job: sft-main, at_step: 7}
workload: {name: sft-fireworks, params: {steps: 20, save_every: 5}}
expect: {outcome: ok, max_resumes: 1, no_checkpoint_lost: true}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drydock.emulator import configured_dialects, default_catalog
from drydock.emulator.control_plane import Timings
from drydock.emulator.errors import ServiceError
from drydock.emulator.faults import CapacityStarvation, CheckpointWriteFailure, Fault, HttpFault
from drydock.emulator.shapes import BaseModelEntry, CapacityPool, ShapeCatalog, TrainingShape
from drydock.emulator.states import JobState
from drydock.wire.fireworks import JOB_ID_RE, SHAPE_OWNED_FIELDS

from ._yaml import YamlProblem, format_loc, line_for, load_with_lines
from .errors import ScenarioFileError, ScenarioProblem

__all__ = [
    "Scenario",
    "ClockSpec",
    "CatalogSpec",
    "JobDecl",
    "WorkloadSpec",
    "Expectations",
    "JobExpect",
    "EventExpect",
    "load_scenario",
    "parse_scenario",
    "validate_scenario_data",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClockSpec(_Strict):
    """`virtual` (deterministic, the default), `scaled` (wall time x speed, for demos) or `wall`."""

    mode: Literal["virtual", "scaled", "wall"] = "virtual"
    speed: float = Field(60.0, ge=1, description="virtual seconds per wall second (scaled mode)")
    cap_s: float = Field(30 * 86400.0, gt=0, description="virtual clock cap: a runaway wait fails")


class CatalogSpec(_Strict):
    """Changes to the default shape catalog: pools override by (region, accelerator type) or are
    added; models and training shapes are added (or replace one of the same name)."""

    pools: list[CapacityPool] = Field(default_factory=list)
    models: list[BaseModelEntry] = Field(default_factory=list)
    training_shapes: list[TrainingShape] = Field(default_factory=list)

    def build(self) -> ShapeCatalog:
        cat = default_catalog()
        pools = {(p.region, p.accelerator_type): p for p in cat.pools}
        pools.update({(p.region, p.accelerator_type): p for p in self.pools})
        models = {m.name: m for m in cat.models}
        models.update({m.name: m for m in self.models})
        shapes = {s.name: s for s in cat.training_shapes}
        shapes.update({s.name: s for s in self.training_shapes})
        return cat.model_copy(
            update={
                "pools": list(pools.values()),
                "models": list(models.values()),
                "training_shapes": list(shapes.values()),
            }
        )


class JobDecl(_Strict):
    """A job of the scenario. `owner: workload` jobs are created by the client program (with this
    id as `requested_job_id`); `owner: scenario` jobs are created by the runner at `create_at_s`
    (e.g. someone else's job holding capacity)."""

    id: str
    base_model: str
    shape: str | None = Field(None, description="training shape ref (shape path)")
    lora_rank: int = Field(0, ge=0)
    learning_rate: float = Field(1e-4, gt=0)
    max_context_length: int | None = Field(None, gt=0)
    accelerator_type: str | None = None
    accelerator_count: int | None = Field(None, ge=1)
    node_count: int | None = Field(None, ge=1)
    region: str | None = None
    display_name: str | None = None
    preemptible: bool = False
    inactivity_timeout_s: float | None = Field(None, gt=0)
    owner: Literal["workload", "scenario"] = "workload"
    create_at_s: float = Field(0.0, ge=0)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not JOB_ID_RE.match(v):
            raise ValueError(
                "a job id is 1-63 lowercase letters, digits and hyphens, starting "
                "and ending with a letter or digit"
            )
        return v


class WorkloadSpec(_Strict):
    """A named client program (see `drydock.scenarios.workloads`) and its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class EventExpect(_Strict):
    """At least `min` (and at most `max`) events of `kind` (a prefix matches: `fault` matches
    `fault.preempt`), for `job` if given, whose detail contains `detail`."""

    kind: str
    job: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    min: int = Field(1, ge=0)
    max: int | None = Field(None, ge=0)


class JobExpect(_Strict):
    final_state: JobState | list[JobState] | None = None
    min_resumes: int | None = Field(None, ge=0)
    max_resumes: int | None = Field(None, ge=0)
    min_preemptions: int | None = Field(None, ge=0)


class Expectations(_Strict):
    """What must hold when the run ends. Every field is optional except `outcome` (default ok)."""

    outcome: Literal["ok", "error"] = "ok"
    error_matches: str | None = Field(None, description="regex the workload's error must match")
    jobs: dict[str, JobExpect] = Field(default_factory=dict)
    max_resumes: int | None = Field(None, ge=0, description="for every job")
    min_resumes: int | None = Field(None, ge=0, description="summed over all jobs")
    loss_below: float | None = None
    min_steps: int | None = Field(None, ge=0, description="training steps the workload finished")
    no_checkpoint_lost: bool = False
    finished_within_s: float | None = Field(None, gt=0, description="virtual seconds")
    job_count: int | None = Field(None, ge=0)
    events: list[EventExpect] = Field(default_factory=list)
    no_events: list[EventExpect] = Field(default_factory=list)

    @field_validator("error_matches")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    seed: int = Field(0, ge=0)
    clock: ClockSpec = Field(default_factory=ClockSpec)
    accounts: dict[str, str] | None = Field(None, description="account id -> API key")
    catalog: CatalogSpec = Field(default_factory=CatalogSpec)
    timings: Timings = Field(default_factory=Timings)
    dialects: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="dialect options by dialect name: {fireworks: {rdma_weight_sync: true}}",
    )
    jobs: list[JobDecl] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    workload: WorkloadSpec
    expect: Expectations = Field(default_factory=Expectations)
    settle_s: float = Field(60.0, ge=0, description="virtual seconds run after the workload ends")
    slow: bool = Field(False, description="takes long enough to be skipped in quick test runs")

    def job(self, job_id: str) -> JobDecl:
        for j in self.jobs:
            if j.id == job_id:
                return j
        raise KeyError(job_id)

    def to_yaml(self) -> str:
        import yaml  # type: ignore[import-untyped]

        data = self.model_dump(mode="json", exclude_defaults=True)
        if self.faults:  # a fault's `kind` is a default, but it is the tag: keep it
            data["faults"] = [
                {"kind": f.kind, **d} for f, d in zip(self.faults, data["faults"], strict=False)
            ]
        return yaml.safe_dump(data, sort_keys=False, width=100)


# ------------------------------------------------------------------ loading + checks
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; `ScenarioFileError` lists each problem with its line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioFileError(
            [ScenarioProblem(str(path), None, "", f"cannot read: {exc}")]
        ) from None
    return parse_scenario(text, str(path))


def parse_scenario(text: str, filename: str = "<scenario>") -> Scenario:
    try:
        data, lines = load_with_lines(text)
    except YamlProblem as exc:
        raise ScenarioFileError([ScenarioProblem(filename, exc.line, "", exc.message)]) from None
    return validate_scenario_data(data, filename, lines)


def validate_scenario_data(
    data: Any, filename: str = "<scenario>", lines: dict | None = None
) -> Scenario:
    lines = lines or {}

    def problem(loc: tuple, msg: str) -> ScenarioProblem:
        return ScenarioProblem(filename, line_for(loc, lines), format_loc(loc, lines), msg)

    if not isinstance(data, dict):
        raise ScenarioFileError(
            [
                problem(
                    (),
                    "a scenario file is a YAML mapping (name, workload, jobs, faults, expect, ...)",
                )
            ]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioFileError(
            [problem(_loc(e), _message(e)) for e in exc.errors(include_url=False)]
        ) from None
    problems = [problem(loc, msg) for loc, msg in _semantic_problems(scenario)]
    if problems:
        raise ScenarioFileError(problems)
    return scenario


def _loc(err: Mapping[str, Any]) -> tuple:
    loc = tuple(err["loc"])
    return loc + ("kind",) if err["type"] == "union_tag_invalid" else loc


def _message(err: Mapping[str, Any]) -> str:
    from drydock.emulator._validate import error_message

    return error_message(err, Scenario)


def _semantic_problems(s: Scenario) -> list[tuple[tuple, str]]:
    """Checks that need more than one field: names that must exist, references between parts."""
    from ._event_kinds import event_kind_problem
    from .workloads import UnknownWorkload, get_workload

    out: list[tuple[tuple, str]] = []
    for name, values in s.dialects.items():
        try:
            configured_dialects({name: values})
        except ValueError as exc:
            out.append((("dialects", name), str(exc)))
    catalog = s.catalog.build()
    ids: set[str] = set()
    for i, job in enumerate(s.jobs):
        if job.id in ids:
            out.append((("jobs", i, "id"), f"duplicate job id {job.id!r}"))
        ids.add(job.id)
        try:
            model = catalog.model(job.base_model)
        except ServiceError:
            names = ", ".join(m.name for m in catalog.models)
            out.append(
                (
                    ("jobs", i, "base_model"),
                    f"unknown base model {job.base_model!r} (known: {names})",
                )
            )
            model = None
        if job.shape:
            try:
                shape, _ = catalog.shape(job.shape)
                if model is not None and shape.base_model != model.name:
                    out.append(
                        (
                            ("jobs", i, "shape"),
                            f"shape {shape.name} is for {shape.base_model}, not {job.base_model}",
                        )
                    )
            except ServiceError as exc:
                out.append((("jobs", i, "shape"), f"unknown training shape: {exc}"))
            for owned in SHAPE_OWNED_FIELDS:
                if getattr(job, owned) is not None:
                    out.append(
                        (("jobs", i, owned), f"{owned} cannot be combined with a training shape")
                    )
        elif (job.accelerator_type or job.region) and catalog.pool(
            job.region or catalog.default_region, job.accelerator_type or "NVIDIA_H100_80GB"
        ) is None:
            out.append((("jobs", i), "no capacity pool for this accelerator type and region"))
    for i, f in enumerate(s.faults):
        target = getattr(f, "job", "*")
        if target != "*" and target not in ids:
            out.append(
                (
                    ("faults", i, "job"),
                    f"fault targets job {target!r}, which the scenario "
                    f"does not declare (jobs: {', '.join(sorted(ids)) or 'none'})",
                )
            )
        if (
            isinstance(f, CapacityStarvation)
            and f.accelerator_type != "*"
            and not any(p.accelerator_type == f.accelerator_type for p in catalog.pools)
        ):
            out.append(
                (
                    ("faults", i, "accelerator_type"),
                    f"no pool offers accelerator type {f.accelerator_type!r}",
                )
            )
        if isinstance(f, CheckpointWriteFailure) and not _workload_trains(s.workload.name):
            out.append((("faults", i), "checkpoint_write_failure needs a training workload"))
    from drydock.emulator._validate import plan_problems

    trains = _workload_steps(s.workload.name)
    http_routes = {f.route for f in s.faults if isinstance(f, HttpFault)}
    routes = _route_names() if http_routes else None
    # A workload whose client library (and so, often, its dialect) is not installed here cannot
    # run: `drydock run` says which extra to install. Checks that need that dialect are left
    # to the environment that has it.
    absent = _workload_absent(s.workload.name)
    if not absent:
        out += plan_problems(s.faults, routes, has_trainer=trains)
    try:
        info = get_workload(s.workload.name)
    except UnknownWorkload as exc:
        out.append((("workload", "name"), exc.message))
    else:
        try:
            info.params.model_validate(s.workload.params)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                out.append((("workload", "params", *e["loc"]), _message(e)))
    for job_id in s.expect.jobs:
        if job_id not in ids:
            out.append((("expect", "jobs", job_id), f"expectation for undeclared job {job_id!r}"))
    custom = _custom_workload(s.workload.name)
    for key in ("events", "no_events"):
        for i, ev in enumerate(getattr(s.expect, key)):
            if ev.job is not None and ev.job not in ids:
                out.append((("expect", key, i, "job"), f"undeclared job {ev.job!r}"))
            bad = None if absent else event_kind_problem(ev.kind, custom_workload=custom)
            if bad:
                out.append((("expect", key, i, "kind"), bad))
    return out


def _custom_workload(name: str) -> bool:
    """A user's own workload (imported, or registered outside drydock), which may log
    `workload.*` kinds of its own."""
    from .workloads import get_workload

    try:
        module = getattr(get_workload(name).run, "__module__", "") or ""
    except KeyError:
        return True
    return ":" in name or not module.startswith("drydock.scenarios")


def _workload_absent(name: str) -> bool:
    """The workload's client libraries are not installed in this environment."""
    from .workloads import get_workload, missing_extras

    try:
        return bool(missing_extras(get_workload(name)))
    except KeyError:  # UnknownWorkload: reported as such
        return False


def _workload_steps(name: str) -> bool:
    """Can training steps happen (so that `at_step` may fire)? With a torch trainer, or when the
    workload drives another service than the default Fireworks one (it needs another extra),
    whose dialect may run a runtime of its own that reports steps (SageMaker's does)."""
    from .workloads import get_workload

    try:
        info = get_workload(name)
    except KeyError:
        return True  # reported as an unknown workload instead
    return info.needs_trainer or any(
        extra != "fireworks" for extra in (getattr(info, "requires", None) or {}).values()
    )


def _workload_trains(name: str) -> bool:
    from .workloads import get_workload

    try:
        return get_workload(name).needs_trainer
    except KeyError:  # UnknownWorkload
        return True  # reported as an unknown workload instead


_ROUTES: list[frozenset[str]] = []


def _route_names() -> frozenset[str]:
    """Route names HTTP faults can match: every installed dialect's (no emulator is built)."""
    from drydock.emulator.emulator import route_names

    if not _ROUTES:
        _ROUTES.append(frozenset(route_names()))
    return _ROUTES[0]
