"""Seed sweeps: run one scenario under many seeds (and, with fuzzing, a random fault plan per
seed), on this process, a local process pool or a Ray cluster, and group what failed.

    from drydock.scenarios import load_builtin
    from drydock.scenarios.sweep import parse_seeds, run_sweep
    result = run_sweep(load_builtin("create-response-lost"), parse_seeds("1-200"),
                       source="create-response-lost", fuzz_faults=True, workers=2)
    for group in result.groups:
        print(group.key, group.count, group.smallest_seed, group.replay)

Every run is the in-process virtual-time run of `drydock run` (`run_scenario`), so a seed's row
(outcome, failed expectations, the sha256 of its event log) is the same wherever it ran. For
each failure group the smallest failing seed is re-run with its fault plan shrunk by delta
debugging to the fewest faults that still fail the same way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._sweep_backends import Backend, InProcess, LocalPool, RayBackend, RayUnavailable
from ._sweep_plan import ddmin, fuzz_bounds
from ._sweep_report import write_sweep_outputs
from ._sweep_worker import LocalRunner, task_for
from .spec import Scenario

__all__ = [
    "SweepError",
    "SweepGroup",
    "SweepResult",
    "parse_seeds",
    "run_sweep",
    "make_backend",
    "write_sweep_outputs",
    "RayUnavailable",
    "MAX_SEEDS",
]

#: Largest sweep one command runs (a typo like 1-10000000000 is a bad range, not a week).
MAX_SEEDS = 10_000_000


class SweepError(ValueError):
    """Bad sweep input: an empty, reversed or malformed seed range, a bad worker count."""


def parse_seeds(text: str) -> range:
    """`"1-10000"` (inclusive) or `"42"` -> a range of seeds; `SweepError` otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:(?:-|\.\.)\s*(\d+)\s*)?", text or "")
    if not m:
        raise SweepError(
            f"bad seed range {text!r}: expected FIRST-LAST (e.g. 1-10000) or one "
            "seed, non-negative integers"
        )
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    if last < first:
        raise SweepError(
            f"seed range {text!r} is reversed: {first} > {last} (write {last}-{first})"
        )
    if last - first + 1 > MAX_SEEDS:
        raise SweepError(
            f"seed range {text!r} has {last - first + 1} seeds; at most {MAX_SEEDS} per sweep"
        )
    return range(first, last + 1)


@dataclass
class SweepGroup:
    """Failures that failed the same expectations (and, for a failed workload, with the same
    error type). `minimized_faults`: the smallest failing seed's plan, shrunk."""

    key: str
    seeds: list[int]
    example: dict[str, Any]  # the row of the smallest failing seed
    replay: str
    minimized_faults: list[dict[str, Any]] | None = None
    minimize_runs: int = 0
    replay_minimized: str | None = None

    @property
    def count(self) -> int:
        return len(self.seeds)

    @property
    def smallest_seed(self) -> int:
        return self.seeds[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.key,
            "count": self.count,
            "smallest_seed": self.smallest_seed,
            "seeds": self.seeds[:100],
            "error": self.example.get("error"),
            "checks": self.example.get("checks", {}),
            "replay": self.replay,
            "faults": self.example.get("faults"),
            "minimized_faults": self.minimized_faults,
            "minimize_runs": self.minimize_runs,
            "replay_minimized": self.replay_minimized,
        }


@dataclass
class SweepResult:
    scenario: str
    source: str
    seeds: range
    fuzz_faults: bool
    backend: str
    workers: int
    rows: list[dict[str, Any]]  # sorted by seed
    groups: list[SweepGroup]
    wall_s: float
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r["passed"])

    @property
    def failed(self) -> int:
        return len(self.rows) - self.passed

    @property
    def runs_per_s(self) -> float:
        return len(self.rows) / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "source": self.source,
            "seeds": f"{self.seeds.start}-{self.seeds.stop - 1}",
            "runs": len(self.rows),
            "passed": self.passed,
            "failed": self.failed,
            "fuzz_faults": self.fuzz_faults,
            "backend": self.backend,
            "workers": self.workers,
            "wall_s": round(self.wall_s, 3),
            "runs_per_s": round(self.runs_per_s, 2),
            "stopped_early": self.stopped_early,
            "groups": [g.to_dict() for g in self.groups],
            **self.extra,
        }


def make_backend(
    workers: int | None = None, ray: bool = False, ray_address: str | None = None
) -> Backend:
    """In-process for 1 worker, a spawned process pool for more, Ray when asked (a local Ray
    with `workers` CPUs when no address is given)."""
    import os

    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be >= 1, got {workers}")
    if ray:
        return RayBackend(ray_address, workers or os.cpu_count() or 1)
    n = workers or os.cpu_count() or 1
    return InProcess() if n == 1 else LocalPool(n)


def _replay(source: str, seed: int, fuzz: bool) -> str:
    cmd = (
        f"drydock sweep {source} --seeds {seed} --fuzz-faults"
        if fuzz
        else f"drydock run {source} --seed {seed}"
    )
    return cmd


def run_sweep(
    scenario: Scenario,
    seeds: Sequence[int],
    *,
    source: str | None = None,
    fuzz_faults: bool = False,
    max_faults: int = 3,
    workers: int | None = None,
    backend: Backend | None = None,
    stop_after_failures: int | None = None,
    minimize: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run `scenario` once per seed and group the failures (see the module docstring).

    `backend`: where to run (default `make_backend(workers)`; closed here only if made here).
    `stop_after_failures`: stop submitting runs after that many failures (runs already started
    finish). `on_row` sees each row as its run finishes (live progress)."""
    if len(seeds) == 0:
        raise SweepError("the seed range is empty")
    if stop_after_failures is not None and stop_after_failures < 1:
        raise SweepError(f"--stop-after-failures must be >= 1, got {stop_after_failures}")
    source = source or scenario.name
    cap_s = None
    if fuzz_faults:  # a fuzzed fault that leaves the client waiting forever fails fast
        bound = fuzz_bounds(scenario, max_faults).max_time_s
        cap_s = max(3600.0, 4 * bound + scenario.settle_s)
    task = task_for(
        scenario.model_dump(mode="json"),
        source,
        fuzz=fuzz_faults,
        max_faults=max_faults,
        cap_s=cap_s,
    )
    own = backend is None
    backend = backend or make_backend(workers)
    rows: list[dict[str, Any]] = []
    failures = [0]

    def stop() -> bool:
        return stop_after_failures is not None and failures[0] >= stop_after_failures

    wall0 = time.perf_counter()
    try:
        for row in backend.run(task, seeds, stop):
            rows.append(row)
            failures[0] += not row["passed"]
            if on_row is not None:
                on_row(row)
        wall_s = time.perf_counter() - wall0
        name, n = backend.name, backend.workers
    finally:
        if own:
            backend.close()
    rows.sort(key=lambda r: r["seed"])
    groups = _group(rows, source, fuzz_faults)
    if minimize and groups:
        runner = LocalRunner()
        try:
            for g in groups:
                _minimize(g, task, runner)
        finally:
            runner.close()
    extra: dict[str, Any] = {"cap_s": cap_s}
    if fuzz_faults:
        extra["fuzz_bounds"] = fuzz_bounds(scenario, max_faults).to_dict()
    return SweepResult(
        scenario.name,
        source,
        range(min(seeds), max(seeds) + 1),
        fuzz_faults,
        name,
        n,
        rows,
        groups,
        wall_s,
        stopped_early=len(rows) < len(seeds),
        extra=extra,
    )


def _group(rows: list[dict[str, Any]], source: str, fuzz: bool) -> list[SweepGroup]:
    by_key: dict[str, SweepGroup] = {}
    for row in rows:  # sorted by seed: the first row of a group is its smallest seed
        if row["passed"]:
            continue
        key = row["group"] or "unknown"
        if key not in by_key:
            by_key[key] = SweepGroup(key, [], row, _replay(source, row["seed"], fuzz))
        by_key[key].seeds.append(row["seed"])
    return sorted(by_key.values(), key=lambda g: (-g.count, g.smallest_seed))


def _minimize(group: SweepGroup, task: dict, runner: LocalRunner) -> None:
    """Shrink the smallest failing seed's plan to the fewest faults that fail the same way."""
    seed, plan = group.smallest_seed, list(group.example.get("faults") or [])
    cache: dict[str, bool] = {}

    def fails(faults: list[dict]) -> bool:
        key = repr(faults)
        if key not in cache:
            group.minimize_runs += 1
            cache[key] = runner(task, seed, faults)["group"] == group.key
        return cache[key]

    group.minimized_faults = ddmin(plan, fails) if plan else []
