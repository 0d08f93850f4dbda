"""Every event kind drydock logs, so that a scenario's `expect.events` can be checked before a
run (a typo would otherwise fail late, as "0 event(s)"). `tests/scenarios/test_event_kinds.py`
scans the source for logged kinds and fails when one is missing here."""

from __future__ import annotations

from drydock.emulator._suggest import did_you_mean

from .workloads import WORKLOAD_EVENT_KINDS, get_workload, workload_names

__all__ = [
    "EVENT_KINDS",
    "event_kind_problem",
    "fault_event_kinds",
    "dialect_event_kinds",
    "workload_event_kinds",
    "known_event_kinds",
]


def known_event_kinds() -> tuple[str, ...]:
    """Every kind a run can log: the core's, the faults', the dialects' and the workloads'."""
    return _known()


def fault_event_kinds() -> tuple[str, ...]:
    from drydock.emulator.faults import fault_kinds

    return tuple(f"fault.{k}" for k in fault_kinds())


EVENT_KINDS: tuple[str, ...] = (
    "job.created",
    "job.state",
    "job.resume",
    "job.restart",
    "job.restart_exhausted",
    "trainer.start",
    "trainer.stop",
    "trainer.crashed",
    "checkpoint.saved",
    "model.promoted",
    "fault.injected",
    "fault.skipped",
    "fault.healthz_down",
    "fault.never_fired",
    "scenario.start",
    "scenario.create_failed",
    "sagemaker.limit",
    "sagemaker.capacity_error",  # the SageMaker dialect's own
    *WORKLOAD_EVENT_KINDS,
)


def dialect_event_kinds() -> tuple[str, ...]:
    """What the installed dialects declare they log (`Dialect.event_kinds`)."""
    from drydock.emulator import default_dialects

    return tuple(k for d in default_dialects() for k in d.event_kinds)


def workload_event_kinds() -> tuple[str, ...]:
    """What the registered workloads declare they log beyond the common `workload.*` kinds."""
    return tuple(k for name in workload_names() for k in get_workload(name).event_kinds)


def _unchecked_namespaces() -> set[str]:
    """Shipped dialects that are not installed here (their optional libraries are missing):
    their kinds cannot be listed, so their namespace is accepted as is."""
    import pkgutil

    import drydock.emulator.dialects as pkg
    from drydock.emulator import default_dialects

    loaded = {d.name for d in default_dialects()}
    return {
        m.name
        for m in pkgutil.iter_modules(pkg.__path__)
        if m.ispkg and not m.name.startswith("_") and m.name not in loaded
    }


def _known() -> tuple[str, ...]:
    return EVENT_KINDS + fault_event_kinds() + dialect_event_kinds() + workload_event_kinds()


def event_kind_problem(kind: str, *, custom_workload: bool = False) -> str | None:
    """None when `kind` names a logged kind or a prefix of some (`fault` matches
    `fault.preempt`); else a message with "did you mean" and the known kinds. A user's own
    workload (`custom_workload`) may log any `workload.*` kind."""
    known = _known()
    if kind in known or any(k.startswith(kind + ".") for k in known):
        return None
    if custom_workload and kind.startswith("workload."):
        return None
    if kind.split(".")[0] in _unchecked_namespaces():
        return None
    prefixes = sorted({k.split(".")[0] for k in known})
    return (
        f"unknown event kind {kind!r}{did_you_mean(kind, known)}; known: "
        f"{', '.join(sorted(known))} (or a prefix: {', '.join(prefixes)})"
    )
