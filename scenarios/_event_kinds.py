"""Every event kind drydock logs, so that a scenario's `expect.events` can be checked before a
run (a typo would otherwise fail late, as "0 event(s)").

The kinds are read from the code itself, so that a new event (in the core, a dialect or a
built-in workload) is known without a list to keep up: the `log("namespace.kind", ...)` calls of
drydock's packages, `ctx.log("kind", ...)` of the built-in workloads (as `workload.kind`), and
`fault.<kind>` for every fault kind."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from drydock.emulator._suggest import did_you_mean

__all__ = ["known_event_kinds", "event_kind_problem"]

_LOGGED = re.compile(r"""\b_?log\(\s*"([a-z_]+\.[a-z_.]+)\"""")
_WORKLOAD_LOGGED = re.compile(r"""(?:ctx\.log|self\._log|\b_log)\(\s*"([a-z_]+)\"""")
# Emitted outside a plain log("...") call: the fault kinds (an f-string) and the runner's own.
_EXTRA = ("fault.injected", "fault.skipped", "fault.never_fired", "workload.start", "workload.end")


def _package_dirs() -> list[Path]:
    import drydock.emulator
    import drydock.scenarios

    dirs = [Path(drydock.emulator.__file__).parent, Path(drydock.scenarios.__file__).parent]
    try:
        import drydock.trainer

        dirs.append(Path(drydock.trainer.__file__).parent)
    except ImportError:  # no torch: the trainer's events are still in its source, unread
        pass
    return dirs


@functools.lru_cache(maxsize=1)
def known_event_kinds() -> frozenset[str]:
    """Every event kind drydock's own code logs (read from its source, once)."""
    from drydock.emulator.faults import fault_kinds

    from .workloads import WORKLOAD_EVENT_KINDS

    kinds = set(_EXTRA) | set(WORKLOAD_EVENT_KINDS) | {f"fault.{k}" for k in fault_kinds()}
    for folder in _package_dirs():
        for path in folder.rglob("*.py"):
            try:
                text = path.read_text()
            except OSError:
                continue
            kinds.update(_LOGGED.findall(text))
            if path.parent.name == "scenarios" and path.name.startswith("workloads"):
                kinds.update(f"workload.{k}" for k in _WORKLOAD_LOGGED.findall(text))
    return frozenset(kinds)


def event_kind_problem(kind: str, *, custom_workload: bool = False) -> str | None:
    """None when `kind` names a logged kind or a prefix of some (`fault` matches
    `fault.preempt`); else a message with "did you mean" and the known kinds. A user's own
    workload (`custom_workload`) may log any `workload.*` kind."""
    known = known_event_kinds()
    if kind in known or any(k.startswith(kind + ".") for k in known):
        return None
    if custom_workload and kind.startswith("workload."):
        return None
    prefixes = sorted({k.split(".")[0] for k in known})
    return (f"unknown event kind {kind!r}{did_you_mean(kind, known)}; known: "
            f"{', '.join(sorted(known))} (or a prefix: {', '.join(prefixes)})")
