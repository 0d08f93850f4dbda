"""Run a scenario: build the emulator it describes, inject its faults, run its client program
under client-side virtual time, settle, and check its expectations.

The first event of every log is `scenario.start`, carrying the validated scenario and the seed,
so a log alone is enough to replay the run (`replay_log`). In virtual mode the same scenario and
seed give a byte-identical log.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drydock.emulator import (
    DEFAULT_ACCOUNT,
    DEFAULT_API_KEY,
    Emulator,
    Event,
    EventLog,
    FaultPlan,
    configured_dialects,
)
from drydock.emulator.clock import ScaledClock, VirtualClock, WallClock
from drydock.emulator.control_plane import JobSpec
from drydock.emulator.errors import ServiceError
from drydock.wire import __version__

from ._never_fired import report_never_fired
from .errors import ReplayMismatch, ScenarioFileError
from .expectations import Check, JobSummary, check_expectations, summarize_jobs
from .spec import Scenario, validate_scenario_data
from .workloads import WorkloadContext, get_workload

if TYPE_CHECKING:
    from drydock.emulator.clock import Clock
    from drydock.testing.virtual_time import VirtualTime

    from .spec import JobDecl

__all__ = ["RunResult", "run_scenario", "replay_log", "scenario_from_log", "VERSION"]

VERSION = __version__  # the one version of drydock (drydock.wire)
_real_perf_counter = _time.perf_counter
_real_sleep = _time.sleep


@dataclass
class RunResult:
    """What a run produced: the event log, the outcome, each expectation's check."""

    scenario: Scenario
    seed: int
    source: str
    events: list[Event]
    outcome: str  # "ok" or "error"
    error: str | None
    checks: list[Check]
    jobs: dict[str, JobSummary]
    virtual_s: float  # virtual seconds the workload ran
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def warnings(self) -> list[str]:
        """Faults that never fired (each also a `fault.never_fired` event)."""
        return list(self.extra.get("warnings", []))

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def events_jsonl(self) -> str:
        return "".join(e.to_json() + "\n" for e in self.events)

    def replay_command(self, log: str | Path | None = None) -> str:
        if log is not None:
            return f"drydock replay {log}"
        return f"drydock run {self.source} --seed {self.seed}"

    def summary(self) -> dict[str, Any]:
        return {
            "drydock": VERSION,
            "scenario": self.scenario.name,
            "source": self.source,
            "seed": self.seed,
            "passed": self.passed,
            "outcome": self.outcome,
            "error": self.error,
            "virtual_s": round(self.virtual_s, 6),
            "wall_s": round(self.wall_s, 3),
            "events": len(self.events),
            "checks": [c.to_dict() for c in self.checks],
            "jobs": {k: v.to_dict() for k, v in self.jobs.items()},
            "replay": self.replay_command(),
            "warnings": self.warnings,
            "scenario_spec": self.scenario.model_dump(mode="json"),
        }


def _clock(scenario: Scenario) -> Callable[[], Clock]:
    c = scenario.clock
    if c.mode == "virtual":
        return lambda: VirtualClock(cap_s=c.cap_s)
    if c.mode == "scaled":
        return lambda: ScaledClock(speed=c.speed)
    return lambda: WallClock()


def _runtime(needs_trainer: bool, runtime: Any) -> Any:
    if runtime is not None:
        return runtime
    if not needs_trainer:
        return None  # the emulator's NullRuntime
    from drydock.trainer.runtime import thread_runtime

    return lambda: thread_runtime(grace_s=0.2, torch_threads=1)


class _ScaledSource:
    """Client sleeps take 1/speed of their length in wall time on a scaled clock."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def now(self) -> float:
        return self.emulator.clock.now()

    def advance(self, seconds: float) -> None:
        _real_sleep(seconds / getattr(self.emulator.clock, "speed", 1.0))
        self.emulator.control_plane.tick()


def _warp(emu: Emulator, scenario: Scenario) -> VirtualTime:
    from drydock.testing.virtual_time import VirtualTime, virtual_time

    if scenario.clock.mode == "virtual":
        return virtual_time(emu)
    return VirtualTime(_ScaledSource(emu))


def _create_scenario_job(emu: Emulator, account: str, decl: JobDecl) -> None:
    spec = JobSpec(
        base_model=decl.base_model,
        lora_rank=decl.lora_rank,
        learning_rate=decl.learning_rate,
        max_context_length=decl.max_context_length,
        training_shape=decl.shape,
        node_count=decl.node_count,
        accelerator_type=decl.accelerator_type,
        accelerator_count=decl.accelerator_count,
        region=decl.region,
        display_name=decl.display_name or "",
        preemptible=decl.preemptible,
        inactivity_timeout_s=decl.inactivity_timeout_s,
    )
    try:
        emu.control_plane.create_job(account, decl.id, spec)
    except ServiceError as exc:  # e.g. the id is taken: a scenario fact, logged, not a crash
        emu.control_plane.log("scenario.create_failed", account, decl.id, error=exc.message)


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    source: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    runtime: Any = None,
) -> RunResult:
    """Run `scenario` (its own seed unless `seed` is given) and check its expectations.

    `on_event` sees every event as it is logged (the CLI's live view). `runtime` overrides the
    trainer runtime (default: none for control-plane workloads, torch threads for training ones).
    """
    seed = scenario.seed if seed is None else seed
    source = source or scenario.name
    info = get_workload(scenario.workload.name)
    params = info.params.model_validate(scenario.workload.params)
    accounts = dict(scenario.accounts or {DEFAULT_ACCOUNT: DEFAULT_API_KEY})
    account, api_key = next(iter(accounts.items()))
    wall0 = _real_perf_counter()
    emu = Emulator(
        seed,
        clock=_clock(scenario),
        catalog=scenario.catalog.build(),
        timings=scenario.timings,
        runtime=_runtime(info.needs_trainer, runtime),
        accounts=accounts,
        dialects=configured_dialects(scenario.dialects) if scenario.dialects else None,
    )
    cp = emu.control_plane
    if on_event is not None:
        emu.events.subscribe(on_event)
    cp.log(
        "scenario.start",
        name=scenario.name,
        seed=seed,
        source=source,
        drydock=VERSION,
        scenario=scenario.model_dump(mode="json"),
    )
    if scenario.faults:
        emu.inject(FaultPlan(faults=list(scenario.faults)))
    for decl in scenario.jobs:
        if decl.owner == "scenario":
            with cp.lock:
                cp.clock.schedule(
                    decl.create_at_s - cp.clock.elapsed(),
                    lambda d=decl: _create_scenario_job(emu, account, d),  # type: ignore[misc]
                    f"create:{decl.id}",
                )
    outcome, error = "ok", None
    try:
        with emu.serve() as server:
            ctx = WorkloadContext(
                scenario,
                emu,
                server.url,
                api_key,
                account,
                [j for j in scenario.jobs if j.owner == "workload"],
            )
            with _warp(emu, scenario):
                with cp.lock:
                    cp.tick()
                ctx.log("start", workload=info.name, params=params.model_dump(mode="json"))
                try:
                    info.run(ctx, params)
                except Exception as exc:  # the run's outcome, not a crash of the runner
                    outcome = "error"
                    error = f"{type(exc).__name__}: {_one_line(ctx.clean(str(exc)))}"
                virtual_s = emu.clock.elapsed()
                ctx.log("end", outcome=outcome, **({"error": error} if error else {}))
            _settle(emu, scenario)
        warnings = report_never_fired(emu, list(scenario.faults), account)
        jobs = summarize_jobs(emu)
        events = list(emu.events)
        checks = check_expectations(scenario, events, outcome, error, jobs, virtual_s)
    finally:
        emu.close()  # stops every trainer; the temporary checkpoint folder goes too
    return RunResult(
        scenario,
        seed,
        source,
        events,
        outcome,
        error,
        checks,
        jobs,
        virtual_s,
        _real_perf_counter() - wall0,
        {"warnings": warnings},
    )


def _settle(emu: Emulator, scenario: Scenario) -> None:
    """Let transitional states finish (DELETING -> DELETED, ...) before the final checks."""
    if scenario.settle_s <= 0:
        return
    if scenario.clock.mode == "virtual":
        emu.advance(scenario.settle_s)
    else:
        _real_sleep(scenario.settle_s / getattr(emu.clock, "speed", 1.0))
        emu.control_plane.tick()


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    text = text.split(" Solution: ")[0]  # the SDK's advice and agent hints add nothing here
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------ replay
def scenario_from_log(text: str, filename: str = "<log>") -> tuple[Scenario, int, str]:
    """The scenario, seed and source recorded in a log's `scenario.start` event."""
    from .errors import ScenarioProblem

    events = EventLog.parse_jsonl(text) if text.strip() else []
    if not events or events[0].kind != "scenario.start":
        raise ScenarioFileError(
            [
                ScenarioProblem(
                    filename,
                    1,
                    "",
                    "not a drydock scenario log (its first event is not scenario.start)",
                )
            ]
        )
    d = events[0].detail
    return validate_scenario_data(d["scenario"], filename), int(d["seed"]), str(d["source"])


def replay_log(path: str | Path, **kwargs: Any) -> RunResult:
    """Re-run the scenario recorded in `path` (an events.jsonl, the --out folder holding one, or
    the summary.json beside it) and raise `ReplayMismatch` unless the new log is byte-identical."""
    path = Path(path)
    if path.is_dir() or path.name == "summary.json":  # the --out folder, or its summary
        path = (path if path.is_dir() else path.parent) / "events.jsonl"
    text = path.read_text()
    scenario, seed, source = scenario_from_log(text, str(path))
    result = run_scenario(scenario, seed=seed, source=source, **kwargs)
    new = result.events_jsonl()
    if new != text:
        old_lines, new_lines = text.splitlines(), new.splitlines()
        for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)):
            if a != b:
                raise ReplayMismatch(
                    f"replay of {path} differs at line {i + 1}:\n  recorded: "
                    f"{a[:300]}\n  replayed: {b[:300]}"
                )
        raise ReplayMismatch(
            f"replay of {path} has {len(new_lines)} events, the recording {len(old_lines)}"
        )
    return result
