"""Reports of a run: the timeline (rich table), the pass/fail summary, the files `--out` writes
(events.jsonl, summary.json, timeline.png)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drydock.emulator import Event

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from rich.console import Console

    from .runner import RunResult

__all__ = [
    "timeline_rows",
    "print_timeline",
    "print_summary",
    "write_outputs",
    "plot_timeline",
    "TimelinePlot",
    "STATE_COLORS",
    "fmt_t",
]

STATE_COLORS = {
    "PENDING": "#f2c14e",
    "CREATING": "#9ecae1",
    "RUNNING": "#31a354",
    "IDLE": "#a1d99b",
    "PAUSED": "#bcbddc",
    "CANCELLING": "#fdae6b",
    "CANCELLED": "#e6550d",
    "FAILED": "#de2d26",
    "COMPLETED": "#3182bd",
    "DELETING": "#969696",
    "DELETED": "#d9d9d9",
}
# Events worth a timeline row (steps and routine saves would drown the rest).
_TIMELINE_KINDS = ("job.state", "job.resume", "fault.", "workload.", "trainer.crashed", "scenario.")
_QUIET = ("workload.step", "fault.injected", "fault.healthz_down", "scenario.start")


def fmt_t(t: float) -> str:
    """Virtual seconds as h:mm:ss.s."""
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{s:04.1f}"


def timeline_rows(events: list[Event], limit: int = 200) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for ev in events:
        if not ev.kind.startswith(_TIMELINE_KINDS) or ev.kind.startswith(_QUIET):
            continue
        if ev.kind == "job.state":
            what = f"{ev.detail.get('src')} -> {ev.detail.get('dst')} ({ev.detail.get('reason')})"
        elif ev.kind == "workload.start":
            what = f"{ev.detail.get('workload')}"
        else:
            what = " ".join(f"{k}={v}" for k, v in ev.detail.items() if k != "params")
        rows.append((fmt_t(ev.t), ev.kind, ev.job, what))
    if len(rows) > limit:  # keep the start and the end; say how many were left out
        half = limit // 2
        rows = rows[:half] + [("...", f"{len(rows) - limit} more", "", "")] + rows[-half:]
    return rows


def print_timeline(console: Console, result: RunResult, limit: int = 200) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"timeline: {result.scenario.name} (seed {result.seed})", expand=False)
    for col in ("t (virtual)", "event", "job", "detail"):
        table.add_column(col, overflow="fold")
    for t, kind, job, what in timeline_rows(result.events, limit):
        style = (
            "red"
            if kind.startswith("fault.")
            else "yellow"
            if "error" in kind or "failed" in kind or "unhealthy" in kind
            else None
        )
        table.add_row(t, kind, job, escape(what), style=style)
    console.print(table)


def print_summary(console: Console, result: RunResult, out: Path | None = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    jobs = Table(title="jobs")
    for col in ("job", "final state", "resumes", "preemptions", "steps", "checkpoints"):
        jobs.add_column(col)
    for j in result.jobs.values():
        jobs.add_row(
            j.id,
            j.final_state or "-",
            str(j.resumes),
            str(j.preemptions),
            str(j.steps),
            str(len(j.checkpoints)),
        )
    console.print(jobs)
    checks = Table(title="expectations")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("detail", overflow="fold")
    for c in result.checks:
        checks.add_row(
            escape(c.name), "[green]pass[/]" if c.passed else "[bold red]FAIL[/]", escape(c.detail)
        )
    console.print(checks)
    ratio = result.virtual_s / result.wall_s if result.wall_s > 0 else float("inf")
    console.print(
        f"virtual time {fmt_t(result.virtual_s)} in {result.wall_s:.2f} s wall "
        f"({ratio:,.0f}x); {len(result.events)} events; outcome: {result.outcome}"
        + (f" ({escape(result.error)})" if result.error else "")
    )
    if result.passed:
        console.print(f"[bold green]PASS[/] {result.scenario.name} (seed {result.seed})")
    else:
        n = len(result.failures)
        console.print(
            f"[bold red]FAIL[/] {result.scenario.name}: {n} expectation(s) failed "
            f"(seed {result.seed})"
        )
    console.print(
        f"replay: {result.replay_command()}"
        + (f"   or: {result.replay_command(out / 'events.jsonl')}" if out else ""),
        soft_wrap=True,
        highlight=False,
    )


def write_outputs(result: RunResult, out: Path) -> dict[str, Any]:
    """events.jsonl, summary.json and timeline.png under `out`; returns the plot's metadata."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "events.jsonl").write_text(result.events_jsonl())
    summary = result.summary()
    summary["replay_log"] = f"drydock replay {out / 'events.jsonl'}"
    plot = plot_timeline(
        result.events,
        out / "timeline.png",
        title=f"{result.scenario.name} (seed {result.seed}): {'PASS' if result.passed else 'FAIL'}",
    )
    summary["timeline"] = {
        "lanes": plot.lanes,
        "loss_points": plot.loss_points,
        "fault_markers": plot.fault_markers,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary["timeline"]


# ------------------------------------------------------------------ PNG
@dataclass
class TimelinePlot:
    path: Path
    lanes: list[str]  # job ids, top to bottom
    spans: int  # coloured state spans drawn
    fault_markers: int
    loss_points: int
    size_px: tuple[int, int]


def _spans(events: list[Event], end: float) -> dict[str, list[tuple[float, float, str]]]:
    """Per job: (start, end, state) spans from job.state events."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    open_: dict[str, tuple[float, str]] = {}
    for ev in events:
        if ev.kind != "job.state":
            continue
        spans.setdefault(ev.job, [])
        if ev.job in open_:
            t0, st = open_[ev.job]
            spans[ev.job].append((t0, ev.t, st))
        open_[ev.job] = (ev.t, ev.detail["dst"])
    for job, (t0, st) in open_.items():
        spans[job].append((t0, max(end, t0), st))
    return spans


def plot_timeline(events: list[Event], path: str | Path, title: str = "") -> TimelinePlot:
    """One lane per job (states as coloured spans, faults as red markers, workload reconnects as
    black ticks), service-wide faults as dashed lines, and the workload's curve beneath: its
    steps' loss, or their reward for a workload that logs no loss (RL)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    path = Path(path)
    end = max((e.t for e in events), default=1.0) or 1.0
    spans = _spans(events, end)
    lanes = sorted(spans) or ["(no jobs)"]
    steps = [e for e in events if e.kind == "workload.step"]
    metric = next((m for m in ("loss", "reward") if any(m in e.detail for e in steps)), "loss")
    losses = [(e.job, e.t, e.detail[metric]) for e in steps if e.detail.get(metric) is not None]
    unit, scale = ("h", 3600.0) if end > 4 * 3600 else ("min", 60.0) if end > 600 else ("s", 1.0)
    fig_h = 1.6 + 0.55 * len(lanes) + (2.2 if losses else 0)
    ratios = [max(1, len(lanes))] + ([3] if losses else [])
    fig, axes = plt.subplots(
        len(ratios),
        1,
        figsize=(12, fig_h),
        dpi=100,
        sharex=True,
        gridspec_kw={"height_ratios": ratios},
        squeeze=False,
    )
    ax = axes[0][0]
    n_spans = n_faults = 0
    min_w = end / scale / 400  # a state held for an instant (FAILED, then resumed) stays visible
    for i, job in enumerate(lanes):
        y = len(lanes) - 1 - i
        for t0, t1, st in spans.get(job, []):
            w = (t1 - t0) / scale
            ax.barh(
                y,
                max(w, min_w),
                left=t0 / scale,
                height=0.6,
                edgecolor="none",
                color=STATE_COLORS.get(st, "#cccccc"),
                zorder=3 if w < min_w else 2,
            )
            n_spans += 1
    ys = {job: len(lanes) - 1 - i for i, job in enumerate(lanes)}
    for ev in events:
        if (
            ev.kind.startswith("fault.")
            and ev.kind not in ("fault.injected", "fault.healthz_down")
            and ev.detail.get("fired", True)
        ):
            if ev.job in ys:
                ax.plot(
                    ev.t / scale,
                    ys[ev.job] + 0.42,
                    marker="v",
                    color="#b10026",
                    ms=8,
                    zorder=5,
                    clip_on=False,
                )
            else:
                ax.axvline(ev.t / scale, color="#b10026", ls="--", lw=0.8, alpha=0.6)
            n_faults += 1
        elif ev.kind == "workload.reconnect" and ev.job in ys:
            ax.plot(ev.t / scale, ys[ev.job] - 0.42, marker="^", color="black", ms=5, zorder=5)
    ax.set_yticks(range(len(lanes)), list(reversed(lanes)))
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.set_xlim(0, end / scale * 1.01)
    ax.grid(axis="x", alpha=0.3)
    seen = [st for st in STATE_COLORS if any(s[2] == st for v in spans.values() for s in v)]
    handles: list[Artist] = [Patch(color=STATE_COLORS[s], label=s) for s in seen]
    handles.append(plt.Line2D([], [], marker="v", color="#b10026", ls="", label="fault"))
    handles.append(plt.Line2D([], [], marker="^", color="black", ls="", label="reconnect"))
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False
    )
    ax.set_title(title or "drydock scenario", loc="left", fontsize=11)
    if losses:
        lax = axes[1][0]
        for ev in events:  # faults again, as faint lines, to line the curve up with them
            if (
                ev.kind.startswith("fault.")
                and ev.detail.get("fired", True)
                and ev.kind not in ("fault.injected", "fault.healthz_down")
            ):
                lax.axvline(ev.t / scale, color="#b10026", ls=":", lw=1, alpha=0.7)
        curves: dict[str, list[tuple[float, float]]] = {}  # one per job: jobs train apart
        for job, t, v in losses:
            curves.setdefault(job, []).append((t, v))
        for job, points in curves.items():
            lax.plot(
                [t / scale for t, _ in points],
                [v for _, v in points],
                lw=1.5,
                marker="." if len(points) < 80 else None,
                label=job,
                **({"color": "#3182bd"} if len(curves) == 1 else {}),
            )
        if len(curves) > 1:
            lax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        lax.set_ylabel(metric)
        lax.grid(alpha=0.3)
    axes[-1][0].set_xlabel(f"virtual time ({unit})")
    fig.tight_layout()
    fig.savefig(path)
    size = tuple(int(v) for v in fig.get_size_inches() * fig.dpi)
    plt.close(fig)
    return TimelinePlot(path, lanes, n_spans, n_faults, len(losses), size)  # type: ignore[arg-type]
