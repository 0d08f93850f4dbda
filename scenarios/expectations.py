"""Checking a finished run against its scenario's `expect:` block.

Everything is read from the event log and the control plane's final state, never from what the
workload says about itself, except the `workload.*` events it logged (steps, losses, saves).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from drydock.emulator import Event

if TYPE_CHECKING:
    from drydock.emulator import Emulator

    from .spec import EventExpect, Scenario

__all__ = ["Check", "JobSummary", "summarize_jobs", "check_expectations", "event_matches"]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobSummary:
    id: str
    final_state: str | None
    resumes: int
    preemptions: int
    steps: int
    checkpoints: list[str] = field(default_factory=list)
    status: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_jobs(emu: Emulator) -> dict[str, JobSummary]:
    cp = emu.control_plane
    out: dict[str, JobSummary] = {}
    with cp.lock:
        for (account, job_id), job in sorted(cp.jobs.items()):
            rows = cp.checkpoints.get((account, job_id), {})
            out[job_id] = JobSummary(
                job_id,
                job.state.value if job.state else None,
                job.resumes,
                job.preemptions,
                job.steps,
                list(rows),
                f"{job.status_code}: {job.status_message}".strip(": "),
            )
    return out


def event_matches(ev: Event, want: EventExpect) -> bool:
    if not (ev.kind == want.kind or ev.kind.startswith(want.kind + ".")):
        return False
    if want.job is not None and ev.job != want.job:
        return False
    return all(ev.detail.get(k) == v for k, v in want.detail.items())


def _describe(want: EventExpect) -> str:
    s = want.kind + (f" job={want.job}" if want.job else "")
    if want.detail:
        s += " " + " ".join(f"{k}={v!r}" for k, v in want.detail.items())
    return s


def check_expectations(
    s: Scenario,
    events: list[Event],
    outcome: str,
    error: str | None,
    jobs: dict[str, JobSummary],
    virtual_s: float,
) -> list[Check]:
    e = s.expect
    checks: list[Check] = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, bool(ok), detail))

    if e.outcome == "ok":
        add(
            "outcome",
            outcome == "ok",
            "workload finished" if outcome == "ok" else f"workload failed: {error}",
        )
    else:
        add(
            "outcome",
            outcome == "error",
            f"workload failed as expected: {error}"
            if outcome == "error"
            else "expected the workload to fail, but it finished",
        )
    if e.error_matches is not None:
        ok = error is not None and re.search(e.error_matches, error) is not None
        add(
            "error_matches",
            ok,
            f"error {'matches' if ok else 'does not match'} /{e.error_matches}/: {error}",
        )
    for job_id, je in e.jobs.items():
        j = jobs.get(job_id)
        if j is None:
            add(f"{job_id}.exists", False, f"job {job_id} was never created")
            continue
        if je.final_state is not None:
            states = je.final_state if isinstance(je.final_state, list) else [je.final_state]
            names = [w.value for w in states]
            add(
                f"{job_id}.final_state",
                j.final_state in names,
                f"final state {j.final_state} (expected {' or '.join(names)})",
            )
        if je.min_resumes is not None:
            add(
                f"{job_id}.min_resumes",
                j.resumes >= je.min_resumes,
                f"{j.resumes} resume(s) (expected >= {je.min_resumes})",
            )
        if je.max_resumes is not None:
            add(
                f"{job_id}.max_resumes",
                j.resumes <= je.max_resumes,
                f"{j.resumes} resume(s) (expected <= {je.max_resumes})",
            )
        if je.min_preemptions is not None:
            add(
                f"{job_id}.min_preemptions",
                j.preemptions >= je.min_preemptions,
                f"{j.preemptions} preemption(s) (expected >= {je.min_preemptions})",
            )
    if e.max_resumes is not None:
        worst = max((j.resumes for j in jobs.values()), default=0)
        add(
            "max_resumes",
            worst <= e.max_resumes,
            f"most resumes of one job: {worst} (expected <= {e.max_resumes})",
        )
    if e.min_resumes is not None:
        total = sum(j.resumes for j in jobs.values())
        add(
            "min_resumes",
            total >= e.min_resumes,
            f"{total} resume(s) in all (expected >= {e.min_resumes})",
        )
    steps = [ev for ev in events if ev.kind == "workload.step"]
    if e.loss_below is not None:
        last = steps[-1].detail.get("loss") if steps else None
        add(
            "loss_below",
            last is not None and last < e.loss_below,
            f"final loss {last:.4f} (expected < {e.loss_below})"
            if last is not None
            else "no training step was logged",
        )
    if e.min_steps is not None:
        done = max((ev.detail.get("step", 0) for ev in steps), default=0)
        add("min_steps", done >= e.min_steps, f"{done} step(s) done (expected >= {e.min_steps})")
    if e.no_checkpoint_lost:
        ok, detail = _no_checkpoint_lost(events, jobs)
        add("no_checkpoint_lost", ok, detail)
    if e.finished_within_s is not None:
        add(
            "finished_within_s",
            virtual_s <= e.finished_within_s,
            f"workload ran {virtual_s:.0f} virtual s (limit {e.finished_within_s:.0f})",
        )
    if e.job_count is not None:
        add(
            "job_count",
            len(jobs) == e.job_count,
            f"{len(jobs)} job(s) exist (expected {e.job_count})",
        )
    for want in e.events:
        n = sum(1 for ev in events if event_matches(ev, want))
        ok = n >= want.min and (want.max is None or n <= want.max)
        rng = f">= {want.min}" + (f" and <= {want.max}" if want.max is not None else "")
        add(f"events[{_describe(want)}]", ok, f"{n} event(s) (expected {rng})")
    for want in e.no_events:
        n = sum(1 for ev in events if event_matches(ev, want))
        add(f"no_events[{_describe(want)}]", n == 0, f"{n} event(s) (expected none)")
    return checks


def _no_checkpoint_lost(events: list[Event], jobs: dict[str, JobSummary]) -> tuple[bool, str]:
    """Every save the client saw complete is still listed on the control plane, and every resume
    restarted from the newest completed save before it (never from an older one or from 0)."""
    saved: dict[str, list[tuple[str, int]]] = {}  # job -> [(name, step)] completed saves
    listed_as: dict[tuple[str, str], str] = {}  # (job, save name) -> the id the job lists
    problems: list[str] = []
    resumes = 0
    for ev in events:
        if ev.kind == "workload.saved":
            saved.setdefault(ev.job, []).append((ev.detail["name"], int(ev.detail["step"])))
            listed_as[(ev.job, ev.detail["name"])] = (
                ev.detail.get("checkpoint") or ev.detail["name"]
            )
        elif ev.kind == "workload.resumed":
            resumes += 1
            newest = saved.get(ev.job, [])[-1] if saved.get(ev.job) else None
            got = (ev.detail.get("name"), int(ev.detail.get("step", 0)))
            if newest is None and got[1] != 0:
                problems.append(f"{ev.job} resumed at step {got[1]} with no completed save")
            elif newest is not None and got != newest:
                problems.append(
                    f"{ev.job} resumed from {got[0]}@{got[1]}, but the newest "
                    f"completed save was {newest[0]}@{newest[1]}"
                )
    for job_id, rows in saved.items():
        listed = set(jobs[job_id].checkpoints) if job_id in jobs else set()
        for name, step in rows:
            if listed_as.get((job_id, name), name) not in listed:
                problems.append(f"{job_id}: completed save {name}@{step} is not listed")
    n = sum(len(v) for v in saved.values())
    if problems:
        return False, "; ".join(problems)
    return True, f"{n} completed save(s) all listed; {resumes} resume(s) from the newest save"
