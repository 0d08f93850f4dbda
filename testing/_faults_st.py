"""Hypothesis strategies for each fault kind and for whole FaultPlans.

Shrinking direction, on purpose: a plan shrinks to fewer faults; kinds are offered in the order
of `FAULT_KINDS` (preemption first, the simplest story) so hypothesis tries earlier kinds in
place of later ones; a trigger shrinks to `at_s`, every time toward 0, every count toward 1 and
every optional knob (Poisson rate, `via`, windows) toward "off". A failing plan therefore shrinks
to something a person can read in one line.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from drydock.emulator.faults import (
    CapacityStarvation,
    CheckpointWriteFailure,
    ExternalCancel,
    FaultPlan,
    HealthzFlap,
    HoldState,
    HttpFault,
    IdleAutoStop,
    NodeFailure,
    Preempt,
    TrainerCrash,
)

__all__ = ["FAULT_KINDS", "HTTP_ROUTES", "faults", "fault_plans", "fault_strategy_for"]

#: Fault kinds in shrink order (earlier = simpler).
FAULT_KINDS: tuple[str, ...] = (
    "preempt",
    "node_failure",
    "cancel",
    "trainer_crash",
    "hold_state",
    "idle_stop",
    "http",
    "healthz_flap",
    "capacity",
    "checkpoint_write_failure",
)

#: Route names the Fireworks dialect registers (what HttpFault.route matches).
HTTP_ROUTES: tuple[str, ...] = (
    "jobs.get",
    "jobs.create",
    "jobs.resume",
    "jobs.delete",
    "jobs.list",
    "gateway.healthz",
    "checkpoints.list",
    "checkpoints.promote",
    "accounts.list",
    "shapes.get",
    "shapes.versions.list",
    "shapes.versions.get",
    "models.get",
)

_ACCELERATORS = ("NVIDIA_H100_80GB", "NVIDIA_H200_141GB", "NVIDIA_B200_192GB")
_REGIONS = ("US_VIRGINIA_1", "EU_ICELAND_1")


def _seconds(max_s: float, min_s: float = 0.0) -> st.SearchStrategy[float]:
    # Whole seconds read better in a failing example and shrink to min_s cleanly.
    return st.integers(int(min_s), max(int(min_s), int(max_s))).map(float)


def _positive(max_s: float) -> st.SearchStrategy[float]:
    return _seconds(max_s, 1.0)


@st.composite
def _trigger(draw: st.DrawFn, max_time_s: float, max_step: int) -> dict:
    """Exactly one of at_s / after_running_s / at_step (the _Timed contract)."""
    # No steps (a run without a trainer): no at_step, which could never fire.
    which = draw(st.sampled_from(("at_s", "after_running_s", "at_step")[: 3 if max_step else 2]))
    if which == "at_step":
        return {"at_step": draw(st.integers(1, max_step))}
    return {which: draw(_seconds(max_time_s))}


def _end(start: float, length: float, end_s: float | None) -> float:
    """`start + length`, but never past the end of the run (when the run's length is known)."""
    return start + length if end_s is None else min(start + length, max(end_s, start + 1.0))


def _job(jobs: Sequence[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(tuple(jobs))


@st.composite
def _preempt(draw, jobs, max_time_s, max_step, end_s=None):
    job = draw(_job(jobs))
    via = draw(st.sampled_from((None, "CREATING", "PENDING", "DELETING")))
    hold_s = draw(_seconds(min(600.0, end_s or 600.0))) if via else 0.0
    trigger = draw(_trigger(max_time_s, max_step))
    # Poisson arrivals over a window come last, so shrinking drops them by flipping one flag.
    if draw(st.booleans()):
        start = trigger.get("at_s", 0.0)
        return Preempt(
            job=job,
            via=via,
            hold_s=hold_s,
            at_s=start,
            rate_per_hour=float(draw(st.integers(1, 12))),
            until_s=_end(start, draw(_positive(max(max_time_s, 1.0))), end_s),
        )
    return Preempt(job=job, via=via, hold_s=hold_s, **trigger)


@st.composite
def _node_failure(draw, jobs, max_time_s, max_step, end_s=None):
    return NodeFailure(
        job=draw(_job(jobs)), node=draw(st.integers(0, 7)), **draw(_trigger(max_time_s, max_step))
    )


@st.composite
def _cancel(draw, jobs, max_time_s, max_step, end_s=None):
    return ExternalCancel(job=draw(_job(jobs)), **draw(_trigger(max_time_s, max_step)))


@st.composite
def _trainer_crash(draw, jobs, max_time_s, max_step, end_s=None):
    return TrainerCrash(
        job=draw(_job(jobs)),
        count=draw(st.integers(1, 3)),
        exit_code=draw(st.sampled_from((1, 137, 139, 2))),
        **draw(_trigger(max_time_s, max_step)),
    )


@st.composite
def _hold_state(draw, jobs, max_time_s, max_step, end_s=None):
    return HoldState(
        job=draw(_job(jobs)),
        state=draw(st.sampled_from(("CREATING", "PENDING", "CANCELLING", "DELETING"))),
        seconds=draw(_seconds(min(end_s or max_time_s, 1800.0))),
        count=draw(st.integers(1, 3) | st.just(0)),
    )


@st.composite
def _idle_stop(draw, jobs, max_time_s, max_step, end_s=None):
    return IdleAutoStop(
        job=draw(_job(jobs)),
        after_s=draw(st.none() | _positive(max(min(end_s or max_time_s, max_time_s), 1.0))),
    )


@st.composite
def _http(draw, jobs, max_time_s, max_step, end_s=None):
    route = draw(st.sampled_from(HTTP_ROUTES))
    effect = draw(st.sampled_from(("status", "reset", "latency", "lose_response")))
    kw: dict = {}
    if effect == "status":
        kw["status"] = draw(st.sampled_from((503, 500, 502, 504, 429, 404, 400)))
        if kw["status"] == 429 or draw(st.booleans()):
            kw["retry_after_s"] = draw(_seconds(30))
    elif effect == "reset":
        kw["reset"] = True
    elif effect == "latency":
        kw["latency_s"] = draw(st.integers(1, 30).map(float))
    else:
        kw["lose_response"] = True
        if draw(st.booleans()):
            kw["reset"] = True
        else:
            kw["status"] = draw(st.sampled_from((503, 500, 504)))
    from_s = draw(_seconds(max_time_s))
    until = draw(st.none() | _positive(max(max_time_s, 1.0)))
    return HttpFault(
        route=route,
        count=draw(st.integers(1, 5)),
        skip=draw(st.integers(0, 3)),
        from_s=from_s,
        until_s=None if until is None else _end(from_s, until, end_s),
        **kw,
    )


@st.composite
def _healthz_flap(draw, jobs, max_time_s, max_step, end_s=None):
    period = draw(st.integers(2, max(2, int(min(600.0, end_s or 600.0)))))
    down = draw(st.integers(1, period - 1))
    until = draw(st.none() | _positive(max(max_time_s, 1.0)))
    at_s = draw(_seconds(max_time_s))
    return HealthzFlap(
        job=draw(_job(jobs)),
        at_s=at_s,
        period_s=float(period),
        down_s=float(down),
        until_s=None if until is None else _end(at_s, until, end_s),
    )


@st.composite
def _capacity(draw, jobs, max_time_s, max_step, end_s=None):
    at_s = draw(_seconds(max_time_s))
    duration = draw(st.none() | _positive(max(max_time_s, 1.0)))
    return CapacityStarvation(
        at_s=at_s,
        duration_s=None if duration is None else _end(at_s, duration, end_s) - at_s,
        accelerator_type=draw(st.sampled_from(("*",) + _ACCELERATORS)),
        region=draw(st.sampled_from(("*",) + _REGIONS)),
        accelerators=draw(st.integers(0, 16)),
    )


@st.composite
def _checkpoint_write_failure(draw, jobs, max_time_s, max_step, end_s=None):
    return CheckpointWriteFailure(
        job=draw(_job(jobs)),
        nth=draw(st.integers(1, min(5, max_step))),
        kill_trainer=draw(st.booleans()),
    )


_BUILDERS = {
    "preempt": _preempt,
    "node_failure": _node_failure,
    "cancel": _cancel,
    "trainer_crash": _trainer_crash,
    "hold_state": _hold_state,
    "idle_stop": _idle_stop,
    "http": _http,
    "healthz_flap": _healthz_flap,
    "capacity": _capacity,
    "checkpoint_write_failure": _checkpoint_write_failure,
}


def _check_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return FAULT_KINDS
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in _BUILDERS]
    if unknown or not kinds:
        raise ValueError(
            f"unknown fault kind(s) {unknown}; choose from {list(FAULT_KINDS)}"
            if unknown
            else "kinds must name at least one fault kind"
        )
    return kinds


def _check_bounds(max_time_s: float, max_step: int, jobs: Sequence[str]) -> None:
    if not max_time_s >= 1:
        raise ValueError(f"max_time_s must be >= 1, got {max_time_s!r}")
    if max_step < 0:
        raise ValueError(f"max_step must be >= 0, got {max_step!r}")
    if isinstance(jobs, str) or not jobs:
        raise ValueError("jobs must be a non-empty sequence of job ids (or '*')")


def _resolve(
    run_s: float | None, steps: int | None, max_time_s: float | None, max_step: int | None
) -> tuple[float, int, float | None]:
    """(latest start, largest at_step, end of every window) from the run's bounds."""
    if run_s is not None and max_time_s is not None:
        raise ValueError("give run_s (the run's length) or max_time_s (the latest start), not both")
    if steps is not None and max_step is not None:
        raise ValueError("give steps (the run's step count) or max_step, not both")
    if run_s is not None and not run_s >= 2:
        raise ValueError(f"run_s must be >= 2 virtual seconds, got {run_s!r}")
    if steps is not None and steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps!r}")
    if run_s is not None:
        max_time_s = float(run_s) - 1.0  # every fault starts while the run is still going
    return (
        3600.0 if max_time_s is None else float(max_time_s),
        int(steps if steps is not None else (100 if max_step is None else max_step)),
        None if run_s is None else float(run_s),
    )


def fault_strategy_for(
    kind: str,
    *,
    jobs: Sequence[str] = ("*",),
    run_s: float | None = None,
    steps: int | None = None,
    max_time_s: float | None = None,
    max_step: int | None = None,
) -> st.SearchStrategy:
    """Faults of one kind (`"preempt"`, `"http"`, ...; see `FAULT_KINDS`)."""
    (kind,) = _check_kinds([kind])
    max_time_s, max_step, end_s = _resolve(run_s, steps, max_time_s, max_step)
    _check_bounds(max_time_s, max_step, jobs)
    return _BUILDERS[kind](tuple(jobs), max_time_s, max_step, end_s)


def faults(
    *,
    kinds: Sequence[str] | None = None,
    jobs: Sequence[str] = ("*",),
    run_s: float | None = None,
    steps: int | None = None,
    max_time_s: float | None = None,
    max_step: int | None = None,
) -> st.SearchStrategy:
    """Single faults of the given kinds (all by default), shrinking toward preemption.

    Bound them by the run you fuzz: `run_s` is how long it runs (virtual seconds: every fault
    starts before it ends and every window, hold and flap ends by then) and `steps` how many
    optimizer steps it takes (the largest `at_step`; 0 for a run with no trainer: no `at_step`
    and no checkpoint-write faults, which could never fire). A fault that lands after the run ended
    tests nothing. Without them: `max_time_s` (latest start, default 3600) and `max_step`
    (default 100). `jobs`: the job ids a fault may target ("*" = every job)."""
    kinds = _check_kinds(kinds)
    max_time_s, max_step, end_s = _resolve(run_s, steps, max_time_s, max_step)
    _check_bounds(max_time_s, max_step, jobs)
    if not max_step:  # no trainer steps: a checkpoint write never happens either
        kinds = [k for k in kinds if k != "checkpoint_write_failure"] or kinds
    return st.one_of([_BUILDERS[k](tuple(jobs), max_time_s, max_step, end_s) for k in kinds])


def fault_plans(
    *,
    max_faults: int = 3,
    min_faults: int = 0,
    kinds: Sequence[str] | None = None,
    jobs: Sequence[str] = ("*",),
    run_s: float | None = None,
    steps: int | None = None,
    max_time_s: float | None = None,
    max_step: int | None = None,
) -> st.SearchStrategy[FaultPlan]:
    """`FaultPlan`s of `min_faults`..`max_faults` faults; they shrink to fewer, simpler faults.
    Bound them by the run under test with `run_s` and `steps` (see `faults`).

    >>> @given(plan=fault_plans(max_faults=2, kinds=["preempt", "http"], run_s=3600, steps=20))
    ... def test_my_loop_survives(plan): ...
    """
    if min_faults < 0 or max_faults < min_faults:
        raise ValueError(f"need 0 <= min_faults <= max_faults, got {min_faults}, {max_faults}")
    one = faults(
        kinds=kinds, jobs=jobs, run_s=run_s, steps=steps, max_time_s=max_time_s, max_step=max_step
    )
    # builds(), not .map(lambda): hypothesis prints a failing example as `FaultPlan(faults=[...])`
    return st.builds(FaultPlan, faults=st.lists(one, min_size=min_faults, max_size=max_faults))
