"""Fault plans for a sweep: the random plan of one seed (`--fuzz-faults`) and the shrinking of a
failing plan to the fewest faults that still fail the same way.

A seed's plan is drawn by drydock's hypothesis strategies (`drydock.testing.strategies`) from a
`random.Random` seeded with the seed's own string, so it is the same on every machine that has the
same hypothesis version; the sweep records every plan it ran, and replays read the record.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

from .spec import Scenario

__all__ = ["FuzzBounds", "fuzz_bounds", "fuzz_faults", "with_faults", "fault_dicts", "ddmin"]

#: Kinds whose triggers only fire on a trainer (training steps, checkpoint writes).
_TRAINER_KINDS = ("trainer_crash", "checkpoint_write_failure")


class FuzzBounds:
    """What a seed's random faults may touch: the scenario's jobs, times up to `max_time_s`,
    training steps up to `max_step`, `kinds`, at most `max_faults` faults."""

    def __init__(
        self,
        jobs: Sequence[str],
        max_time_s: float,
        max_step: int,
        kinds: Sequence[str],
        max_faults: int,
    ) -> None:
        self.jobs, self.max_time_s, self.max_step = tuple(jobs), float(max_time_s), int(max_step)
        self.kinds, self.max_faults = tuple(kinds), int(max_faults)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": list(self.jobs),
            "max_time_s": self.max_time_s,
            "max_step": self.max_step,
            "kinds": list(self.kinds),
            "max_faults": self.max_faults,
        }


def fuzz_bounds(scenario: Scenario, max_faults: int = 3) -> FuzzBounds:
    """The bounds a scenario sets: its job ids, its time budget (`expect.finished_within_s`,
    else the workload's `hold_s` plus provisioning, else an hour), its `steps`."""
    from drydock.testing.strategies import FAULT_KINDS

    from .workloads import get_workload

    params = dict(scenario.workload.params)
    info = get_workload(scenario.workload.name)
    if scenario.expect.finished_within_s:
        max_time_s = scenario.expect.finished_within_s
    elif "hold_s" in params:
        max_time_s = float(params["hold_s"]) + float(scenario.timings.provision_s) + 60.0
    else:
        max_time_s = 3600.0
    kinds = [k for k in FAULT_KINDS if info.needs_trainer or k not in _TRAINER_KINDS]
    jobs = [j.id for j in scenario.jobs] or ["*"]
    # No trainer behind the jobs: no training steps, so no at_step trigger (it could never fire,
    # and the emulator refuses such a plan).
    max_step = (int(params.get("steps", 100)) or 1) if info.needs_trainer else 0
    return FuzzBounds(jobs, max(1.0, max_time_s), max_step, kinds, max_faults)


def fuzz_faults(bounds: FuzzBounds, seed: int) -> list[Any]:
    """The random faults of `seed` (1..max_faults of them), drawn by the hypothesis strategy
    `fault_plans` from a Random seeded with the seed: the same list on every machine."""
    from hypothesis.control import BuildContext
    from hypothesis.internal.conjecture.data import ConjectureData

    from drydock.testing.strategies import fault_plans

    strategy = fault_plans(
        min_faults=1,
        max_faults=bounds.max_faults,
        kinds=bounds.kinds,
        jobs=bounds.jobs,
        max_time_s=bounds.max_time_s,
        max_step=bounds.max_step,
    )
    # What `@given` does for one example, with our Random: hypothesis' own draw, no test needed.
    data = ConjectureData(
        random=random.Random(f"drydock-sweep-fuzz:{seed}"), provider=_seed_only_provider()
    )
    try:
        with BuildContext(data, is_final=True, wrapped_test=fuzz_faults):
            return list(data.draw(strategy).faults)
    finally:
        data.freeze()


@functools.lru_cache(maxsize=1)
def _seed_only_provider() -> type:
    from hypothesis.internal.conjecture.providers import HypothesisProvider

    class SeedOnlyProvider(HypothesisProvider):
        """hypothesis' own provider, minus one thing: now and then it swaps a drawn number for
        a constant found in the source of the modules loaded in *this* process, so the same
        seed drew different plans in two workers (measured). Here every choice comes from the
        seeded Random alone."""

        def _maybe_draw_constant(
            self, choice_type: Any, constraints: Any, *, p: float = 0.05
        ) -> None:
            return None

    return SeedOnlyProvider


def fault_dicts(faults: Sequence[Any]) -> list[dict[str, Any]]:
    """Faults as the YAML/JSON a scenario file holds (`kind` first, defaults left out)."""
    return [{"kind": f.kind, **f.model_dump(mode="json", exclude_defaults=True)} for f in faults]


def with_faults(
    scenario: Scenario,
    faults: Sequence[dict[str, Any]],
    *,
    cap_s: float | None = None,
    name_suffix: str = "",
) -> Scenario:
    """A copy of the scenario whose fault timeline is `faults` (as `fault_dicts` gives them)
    and, optionally, a lower virtual-clock cap, so that a fault that leaves the client waiting
    forever fails fast instead of polling through the default 30 virtual days."""
    data = scenario.model_dump(mode="json")
    data["faults"] = [dict(f) for f in faults]
    if cap_s is not None:
        data["clock"]["cap_s"] = min(float(data["clock"]["cap_s"]), cap_s)
    if name_suffix:
        data["name"] = f"{data['name']}-{name_suffix}"
    # pydantic's checks only: the scenario passed the full validation once, and the faults come
    # from drydock's strategies or from its own list. (The full check builds an emulator app
    # to list route names: 20-40 ms, a third of a short run.)
    return Scenario.model_validate(data)


def ddmin(items: Sequence[Any], fails: Callable[[list[Any]], bool]) -> list[Any]:
    """Zeller's delta debugging: a 1-minimal sublist of `items` (order kept) for which `fails`
    still holds; `fails(items)` is assumed. Removing any single item of the result passes."""
    items = list(items)
    if not items:
        return items
    if fails([]):
        return []
    n = 2
    while len(items) >= 2:
        size = max(1, len(items) // n)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        reduced = False
        for i in range(len(chunks)):
            complement = [x for j, c in enumerate(chunks) if j != i for x in c]
            if fails(chunks[i]):
                items, n, reduced = chunks[i], 2, True
                break
            if len(chunks) > 2 and fails(complement):
                items, n, reduced = complement, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items
