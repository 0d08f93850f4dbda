"""The built-in scenarios (the *.yaml files beside this module) and name-or-path resolution."""

from __future__ import annotations

from pathlib import Path

from ..errors import UnknownScenario
from ..spec import Scenario, load_scenario

__all__ = ["LIBRARY_DIR", "builtin_names", "builtin_path", "load_builtin", "resolve_scenario"]

LIBRARY_DIR = Path(__file__).parent


def builtin_names() -> list[str]:
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.yaml"))


def builtin_path(name: str) -> Path:
    path = LIBRARY_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UnknownScenario(
            f"no built-in scenario {name!r}; built-ins: {', '.join(builtin_names())}"
        )
    return path


def load_builtin(name: str) -> Scenario:
    return load_scenario(builtin_path(name))


def resolve_scenario(ref: str) -> tuple[Scenario, str]:
    """A built-in name or a file path -> (scenario, the source to name in replay commands)."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file() or "/" in ref:
        if not path.is_file():
            raise UnknownScenario(f"scenario file {ref} does not exist")
        return load_scenario(path), ref
    return load_builtin(ref), ref
