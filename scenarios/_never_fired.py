"""Faults that never fired during a scenario run: a warning and a `fault.never_fired` event
each, never silence (a fault aimed at a job the workload never created, an `at_step` beyond the
last step, a window after the run ended)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drydock.emulator import Emulator

__all__ = ["report_never_fired"]


# The event a kind logs when it acts, where it is not `fault.<kind>`.
_FIRE_EVENTS: dict[str, tuple[str, ...]] = {"healthz_flap": ("fault.healthz_down",)}
# Kinds that act without logging an event: whether they fired cannot be told from the log.
_UNLOGGED = frozenset({"token_latency"})


def _fired(fault: Any, events: list[Any]) -> bool:
    target = fault.target() if hasattr(fault, "target") else getattr(fault, "job", "")
    kinds = (f"fault.{fault.kind}",) + _FIRE_EVENTS.get(fault.kind, ())
    return any(
        e.kind in kinds and (target in ("", "*") or e.job in ("", target) or e.job == "*")
        for e in events
    )


def report_never_fired(emu: Emulator, faults: list[Any], account: str) -> list[str]:
    """Log `fault.never_fired` for each fault of `faults` (the scenario's, in order) that left
    no `fault.<kind>` event; return one warning line per such fault."""
    cp = emu.control_plane
    with cp.lock:
        events = list(cp.events)
        known = {job_id for (_, job_id) in cp.jobs}
        steps = {job_id: job.steps for (_, job_id), job in cp.jobs.items()}
    warnings: list[str] = []
    for i, f in enumerate(faults):
        if f.kind in _UNLOGGED or _fired(f, events):
            continue
        target = f.target() if hasattr(f, "target") else getattr(f, "job", "")
        if target not in ("", "*") and target not in known:
            reason = f"job {target!r} was never created"
        elif getattr(f, "at_step", None) is not None:
            reached = max(
                (steps.get(j, 0) for j in ([target] if target not in ("", "*") else list(steps))),
                default=0,
            )
            reason = f"at_step={f.at_step}, but the trainer reached step {reached}"
        else:
            reason = "its trigger did not come before the run ended"
        cp.log(
            "fault.never_fired",
            account if target not in ("", "*") else "",
            target if target not in ("", "*") else "",
            index=i,
            fault=f.kind,
            reason=reason,
        )
        warnings.append(f"faults[{i}] ({f.kind}) never fired: {reason}")
    return warnings
