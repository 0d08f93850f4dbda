"""One sweep run, as a task a worker process (a pool worker or a Ray worker) executes.

The task gets the scenario as JSON (`task_for`), so a worker on another machine needs drydock
installed but no file of ours. A worker pays its start-up once: the scenario is parsed once per
process, and after the first run the client-side time warp's patches stay installed
(`keep_patched`), so each later run only registers its thread. The first run is a plain
`drydock run`: the client library's imports happen there, in a plain warp, because a module
imported while freezegun's patches are on may break (pydantic.v1 subclasses `datetime.date` with
its own metaclass: a conflict with freezegun's FakeDate).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._sweep_plan import FuzzBounds
    from .spec import Scenario

__all__ = ["run_seed", "group_key", "worker_init", "worker_run_seed", "LocalRunner", "task_for"]

_real_perf_counter = time.perf_counter
_SCENARIOS: dict[str, Any] = {}  # spec digest -> (Scenario, FuzzBounds | None)


class LocalRunner:
    """Runs seeds in this process: the first as `drydock run` does, the rest with the warp's
    patches held (`keep_patched`) until `close()`."""

    def __init__(self) -> None:
        self._hold: Any = None

    def __call__(
        self, task: dict[str, Any], seed: int, faults: list[dict] | None = None
    ) -> dict[str, Any]:
        row = run_seed(task, seed, faults)
        if self._hold is None:
            from drydock.testing.virtual_time import keep_patched

            self._hold = keep_patched().__enter__()
        return row

    def close(self) -> None:
        if self._hold is not None:
            self._hold.__exit__(None, None, None)
            self._hold = None


_WORKER: LocalRunner | None = None  # a pool or Ray worker's runner: held for its whole life


def worker_init() -> None:
    """Make this process a sweep worker (a pool initializer; idempotent)."""
    global _WORKER
    if _WORKER is None:
        import logging

        _WORKER = LocalRunner()
        # Client libraries log their retries and failed deletes as warnings; with no handler
        # Python prints them to stderr, once per run: the sweep's rows already say what failed.
        if not logging.getLogger().handlers:
            logging.getLogger().addHandler(logging.NullHandler())


def worker_run_seed(task: dict[str, Any], seed: int) -> dict[str, Any]:
    """The task a pool or Ray worker runs: `run_seed` with the worker's start-up paid once."""
    worker_init()
    assert _WORKER is not None
    return _WORKER(task, seed)


def _load(task: dict[str, Any]) -> tuple[Scenario, FuzzBounds | None]:
    key = task["digest"]
    if key not in _SCENARIOS:
        from ._sweep_plan import fuzz_bounds
        from .spec import validate_scenario_data

        scenario = validate_scenario_data(task["scenario"], task["source"])
        bounds = fuzz_bounds(scenario, task["max_faults"]) if task["fuzz"] else None
        _SCENARIOS[key] = (scenario, bounds)
    return _SCENARIOS[key]


def group_key(failed: list[str], outcome: str, error: str | None) -> str:
    """Which expectations failed, and for a failed workload the error's type:
    `outcome (WorkloadGaveUp)`, `retry-safe.final_state`, `crash (KeyError)`."""
    names = list(failed)
    if "outcome" in names and error:
        names[names.index("outcome")] = f"outcome ({error.split(':', 1)[0].strip()})"
    return ", ".join(names)


def run_seed(task: dict[str, Any], seed: int, faults: list[dict] | None = None) -> dict[str, Any]:
    """Run the task's scenario under `seed` and return the row the sweep records.

    The fault plan is `faults` when given (minimizing), else the scenario's own faults plus,
    with fuzzing, the seed's random ones. A crash of the runner itself is a row too."""
    from ._sweep_plan import fault_dicts, fuzz_faults, with_faults
    from .runner import run_scenario

    scenario, bounds = _load(task)
    if faults is None:
        faults = fault_dicts(scenario.faults)
        if bounds is not None:
            faults += fault_dicts(fuzz_faults(bounds, seed))
    row: dict[str, Any] = {
        "seed": seed,
        "faults": faults,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }
    wall0 = _real_perf_counter()
    try:
        spec = scenario
        if bounds is not None or faults != fault_dicts(scenario.faults):
            spec = with_faults(scenario, faults, cap_s=task.get("cap_s"))
        result = run_scenario(spec, seed=seed, source=task["source"])
    except Exception as exc:  # a drydock bug or a bad plan: the row says which
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:400]
        row.update(
            passed=False,
            outcome="crash",
            error=error,
            failed=["crash"],
            group=f"crash ({type(exc).__name__})",
            digest=None,
            events=0,
            virtual_s=None,
        )
    else:
        failed = [c.name for c in result.failures]
        row.update(
            passed=result.passed,
            outcome=result.outcome,
            error=result.error,
            failed=failed,
            group=group_key(failed, result.outcome, result.error) or None,
            digest=hashlib.sha256(result.events_jsonl().encode()).hexdigest(),
            events=len(result.events),
            virtual_s=round(result.virtual_s, 6),
            checks={c.name: c.detail for c in result.failures},
        )
    row["wall_s"] = round(_real_perf_counter() - wall0, 4)
    return row


def task_for(
    scenario_json: dict[str, Any], source: str, *, fuzz: bool, max_faults: int, cap_s: float | None
) -> dict[str, Any]:
    """What every task of one sweep shares (sent once: to the pool's workers, or Ray's store)."""
    digest = hashlib.sha256(
        json.dumps([scenario_json, source, fuzz, max_faults, cap_s], sort_keys=True).encode()
    ).hexdigest()
    return {
        "scenario": scenario_json,
        "source": source,
        "fuzz": fuzz,
        "max_faults": max_faults,
        "cap_s": cap_s,
        "digest": digest,
    }
