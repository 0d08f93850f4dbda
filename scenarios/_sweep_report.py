"""What `drydock sweep --out DIR` writes: runs.jsonl (one row per run, by seed), summary.json,
outcomes.png (each seed's outcome), and failures/GROUP-seed-N.yaml (the smallest failing seed's
scenario with its minimized fault plan: `drydock run FILE --seed N` replays it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import Scenario
    from .sweep import SweepResult

__all__ = ["write_sweep_outputs", "plot_outcomes"]


_COLORS = (
    "tab:red",
    "tab:orange",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:blue",
    "tab:gray",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "failure"


def write_sweep_outputs(result: SweepResult, scenario: Scenario, out: Path) -> dict[str, Any]:
    from ._sweep_plan import with_faults

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "runs.jsonl", "w") as f:
        for row in result.rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    for g in result.groups:
        if g.minimized_faults is None:
            continue
        path = out / "failures" / f"{_slug(g.key)}-seed-{g.smallest_seed}.yaml"
        path.parent.mkdir(exist_ok=True)
        spec = with_faults(scenario, g.minimized_faults, cap_s=result.extra.get("cap_s"))
        path.write_text(
            f"# drydock sweep: group {g.key!r}, smallest failing seed "
            f"{g.smallest_seed}, fault plan minimized\n# replay: drydock run "
            f"{path} --seed {g.smallest_seed}\n" + spec.to_yaml()
        )
        g.replay_minimized = f"drydock run {path} --seed {g.smallest_seed}"
    summary = result.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    plot_outcomes(result, out / "outcomes.png")
    return summary


def plot_outcomes(result: SweepResult, path: Path) -> None:
    """One row per outcome (pass, then each failure group), a mark at each seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    lanes = ["pass"] + [g.key for g in result.groups]
    where = {"pass": [r["seed"] for r in result.rows if r["passed"]]}
    for g in result.groups:
        where[g.key] = g.seeds
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(lanes)), dpi=100)
    many = len(result.rows) > 2000
    for i, lane in enumerate(lanes):
        xs = where[lane]
        ax.scatter(
            xs,
            [i] * len(xs),
            marker="|",
            s=60 if not many else 30,
            linewidths=0.6 if many else 1.2,
            color="tab:green" if i == 0 else _COLORS[(i - 1) % len(_COLORS)],
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([f"{lane[:48]} ({len(where[lane])})" for lane in lanes], fontsize=8)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("seed")
    ax.set_title(
        f"{result.scenario}: {result.passed} passed, {result.failed} failed of "
        f"{len(result.rows)} runs" + (" (fuzzed faults)" if result.fuzz_faults else ""),
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
