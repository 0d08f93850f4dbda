"""How the plugin turns `--drydock-seed` and `@pytest.mark.drydock(...)` into emulator arguments.

Kept free of heavy imports at module level: the emulator (FastAPI, pydantic) is imported only
when a test actually asks for one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from drydock.emulator import FaultPlan, Timings

__all__ = [
    "EmulatorSettings",
    "parse_seed_option",
    "settings_for",
    "as_fault_plan",
    "as_timings",
    "default_test_runtime",
]

_MARKER_KEYS = {"seed", "faults", "timings", "catalog", "runtime"}


@dataclass
class EmulatorSettings:
    """What one test's emulator is built from, and where each value came from."""

    seed: int
    seed_source: str  # "marker", "option", "random option" or "default"
    faults: Any = None  # FaultPlan | None
    timings: Any = None  # Timings | None
    catalog: Any = None  # ShapeCatalog | None
    runtime: Any = None  # TrainerRuntime or a factory; None = no trainer (NullRuntime)
    runtime_source: str = "default"  # "marker" or "default"


def parse_seed_option(value: str | None) -> tuple[int | None, bool]:
    """`--drydock-seed` value -> (seed, was_random). `random` draws one seed for the session."""
    if value is None:
        return None, False
    if value.strip().lower() == "random":
        return int.from_bytes(os.urandom(4), "big"), True
    try:
        seed = int(value)
    except ValueError:
        raise ValueError(f"--drydock-seed must be an integer or 'random', got {value!r}") from None
    if seed < 0:
        raise ValueError(f"--drydock-seed must be >= 0, got {seed}")
    return seed, False


def as_fault_plan(value: Any) -> FaultPlan | None:
    """A FaultPlan from a FaultPlan, a list of faults/dicts, a dict, YAML text or a YAML path."""
    from drydock.emulator import FaultPlan

    if value is None or isinstance(value, FaultPlan):
        return value
    if isinstance(value, Path):
        return FaultPlan.from_yaml(value)
    if isinstance(value, str):
        path = Path(value)
        if "\n" not in value and value.endswith((".yaml", ".yml")) and path.is_file():
            return FaultPlan.from_yaml(path)
        return FaultPlan.from_yaml(value)
    if isinstance(value, dict):
        return FaultPlan.model_validate(value)
    if isinstance(value, (list, tuple)):
        return FaultPlan(
            faults=[f if not isinstance(f, dict) else FaultPlan.parse_fault(f) for f in value]
        )
    raise TypeError(
        f"drydock marker: faults= takes a FaultPlan, a list of faults, a dict or YAML, "
        f"not {type(value).__name__}"
    )


def as_timings(value: Any) -> Timings | None:
    from drydock.emulator import Timings

    if value is None or isinstance(value, Timings):
        return value
    if isinstance(value, dict):
        return Timings.model_validate(value)
    raise TypeError(
        f"drydock marker: timings= takes a Timings or a dict, not {type(value).__name__}"
    )


def settings_for(node: Node, option_seed: int | None, option_random: bool) -> EmulatorSettings:
    """Merge the closest `drydock` marker (and any on its class/module) with the command line.

    A seed written in the test's marker wins over `--drydock-seed`: the test asked for it.
    """
    kwargs: dict[str, Any] = {}
    # iter_markers yields the closest first; let closer markers win key by key.
    for mark in reversed(list(node.iter_markers("drydock"))):
        if mark.args:
            if len(mark.args) > 1 or "seed" in mark.kwargs:
                raise TypeError("drydock marker: give the seed once, as drydock(seed) or seed=")
            kwargs["seed"] = mark.args[0]
        unknown = set(mark.kwargs) - _MARKER_KEYS
        if unknown:
            raise TypeError(
                f"drydock marker: unknown argument(s) {sorted(unknown)}; "
                f"expected {sorted(_MARKER_KEYS)}"
            )
        kwargs.update(mark.kwargs)
    if "seed" in kwargs:
        seed, source = kwargs["seed"], "marker"
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TypeError(f"drydock marker: seed must be a non-negative int, got {seed!r}")
    elif option_seed is not None:
        seed, source = option_seed, "random option" if option_random else "option"
    else:
        seed, source = 0, "default"
    return EmulatorSettings(
        seed=seed,
        seed_source=source,
        faults=as_fault_plan(kwargs.get("faults")),
        timings=as_timings(kwargs.get("timings")),
        catalog=kwargs.get("catalog"),
        runtime=(
            _runtime_factory(kwargs["runtime"]) if "runtime" in kwargs else default_test_runtime()
        ),
        runtime_source="marker" if "runtime" in kwargs else "default",
    )


def default_test_runtime() -> Any:
    """The trainer runtime a test gets when its marker names none: torch worker threads
    wherever torch is installed (so the trainer gateway answers and `at_step` faults fire),
    else None (NullRuntime). Ask for no trainer with `@pytest.mark.drydock(runtime=None)`."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return None

    def thread() -> Any:
        from drydock.trainer.runtime import thread_runtime

        return thread_runtime(grace_s=0.2, torch_threads=1)

    return thread


def _runtime_factory(value: Any) -> Any:
    """A runtime class becomes a factory, so each test's emulator gets its own instance (the
    Emulator treats anything with a `start` attribute, classes included, as an instance)."""
    if isinstance(value, type):
        return lambda cls=value: cls()
    return value
