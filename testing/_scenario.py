"""`@pytest.mark.scenario(name)`: run a drydock scenario (built-in name or YAML path) with
drydock.scenarios' runner; the test gets its `RunResult`."""

from __future__ import annotations

from typing import Any

__all__ = ["run_marked_scenario", "scenario_seed", "check_options"]

_OPTIONS = {"seed", "runtime", "check"}


def scenario_seed(marker_seed: Any, settings_seed: int, settings_source: str) -> int | None:
    """The seed to run with: the scenario marker's, then an explicit drydock marker/option
    seed; None = the scenario file's own seed (its author picked it)."""
    if marker_seed is not None:
        if isinstance(marker_seed, bool) or not isinstance(marker_seed, int) or marker_seed < 0:
            raise TypeError(
                f"scenario marker: seed must be a non-negative int, got {marker_seed!r}"
            )
        return marker_seed
    return None if settings_source == "default" else settings_seed


def run_marked_scenario(name: str, *, seed: int | None, runtime: Any = None) -> Any:
    """Run scenario `name` (a built-in or a YAML path) and return its RunResult."""
    from drydock.scenarios import resolve_scenario, run_scenario

    scenario, source = resolve_scenario(name)
    return run_scenario(scenario, seed=seed, source=source, runtime=runtime)


def check_options(kwargs: dict) -> None:
    unknown = set(kwargs) - _OPTIONS
    if unknown:
        raise TypeError(
            f"scenario marker: unknown option(s) {sorted(unknown)}; expected {sorted(_OPTIONS)}"
        )
