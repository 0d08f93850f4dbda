"""Every event kind drydock logs, so that a scenario's `expect.events` can be checked before a
run (a typo would otherwise fail late, as "0 event(s)"). `tests/scenarios/test_event_kinds.py`
scans the source for logged kinds and fails when one is missing here."""

from __future__ import annotations

from drydock.emulator._suggest import did_you_mean

from .workloads import WORKLOAD_EVENT_KINDS
from .workloads_kubeflow import KUBEFLOW_EVENT_KINDS

__all__ = ["EVENT_KINDS", "event_kind_problem", "fault_event_kinds"]


def fault_event_kinds() -> tuple[str, ...]:
    from drydock.emulator.faults import fault_kinds

    return tuple(f"fault.{k}" for k in fault_kinds())


EVENT_KINDS: tuple[str, ...] = (
    "job.created", "job.state", "job.resume", "job.restart", "job.restart_exhausted",
    "trainer.start", "trainer.stop", "trainer.crashed",
    "checkpoint.saved", "model.promoted",
    "fault.injected", "fault.skipped", "fault.healthz_down", "fault.never_fired",
    "scenario.start", "scenario.create_failed",
    *WORKLOAD_EVENT_KINDS,
    *KUBEFLOW_EVENT_KINDS,
)


def _known() -> tuple[str, ...]:
    return EVENT_KINDS + fault_event_kinds()


def event_kind_problem(kind: str, *, custom_workload: bool = False) -> str | None:
    """None when `kind` names a logged kind or a prefix of some (`fault` matches
    `fault.preempt`); else a message with "did you mean" and the known kinds. A user's own
    workload (`custom_workload`) may log any `workload.*` kind."""
    known = _known()
    if kind in known or any(k.startswith(kind + ".") for k in known):
        return None
    if custom_workload and kind.startswith("workload."):
        return None
    prefixes = sorted({k.split(".")[0] for k in known})
    return (f"unknown event kind {kind!r}{did_you_mean(kind, known)}; known: "
            f"{', '.join(sorted(known))} (or a prefix: {', '.join(prefixes)})")
