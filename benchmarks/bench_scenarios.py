"""Wall time of the built-in scenario library, and virtual/wall speed of the 24-hour scenario.

    .venv/bin/python benchmarks/bench_scenarios.py [--repeat N]

Baselines, measured in the same run: the library's wall budget (120 s on a 2-core machine), and
for the 24-virtual-hour scenario the same run without its faults (what the preemptions cost) and
real time (1 virtual second per wall second).
"""

from __future__ import annotations

import argparse
import time

BUDGET_S = 120.0
DAY = "long-run-poisson-preemptions"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="library passes to time (best is kept)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import fireworks.training.sdk  # noqa: F401

    import drydock.trainer.runtime  # noqa: F401  (torch: imported once, like the CLI does)
    from drydock.scenarios import builtin_names, load_builtin, run_scenario
    imports = time.perf_counter() - t0
    print(f"imports (drydock, torch, fireworks-ai): {imports:.2f} s")

    best = None
    for _ in range(args.repeat):
        rows, t_lib = [], time.perf_counter()
        for name in builtin_names():
            s = load_builtin(name)
            t = time.perf_counter()
            r = run_scenario(s)
            rows.append((name, time.perf_counter() - t, r.virtual_s, r.passed))
        total = time.perf_counter() - t_lib
        if best is None or total < best[0]:
            best = (total, rows)
    total, rows = best
    print(f"\n{'scenario':40s} {'wall s':>8s} {'virtual s':>10s} {'virt/wall':>10s}  result")
    for name, wall, virt, ok in rows:
        print(f"{name:40s} {wall:8.2f} {virt:10.0f} {virt / wall:10.0f}x  {'PASS' if ok else 'FAIL'}")
    print(f"\nlibrary: {len(rows)} scenarios in {total:.1f} s wall (+{imports:.1f} s imports) "
          f"= {(total + imports) / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget")

    day = load_builtin(DAY)
    t = time.perf_counter()
    r = run_scenario(day)
    wall = time.perf_counter() - t
    calm = day.model_copy(update={"faults": [], "expect": day.expect.model_copy(
        update={"jobs": {}, "events": []})})
    t = time.perf_counter()
    rc = run_scenario(calm)
    wall_calm = time.perf_counter() - t
    pre = sum(1 for e in r.events if e.kind == "fault.preempt")
    print(f"\n{DAY}: {r.virtual_s / 3600:.1f} virtual h in {wall:.2f} s wall -> "
          f"{r.virtual_s / wall:,.0f}x real time ({pre} preemptions, {len(r.events)} events)")
    print(f"  same day without faults: {wall_calm:.2f} s wall ({rc.virtual_s / wall_calm:,.0f}x); "
          f"the preemptions cost {wall / wall_calm:.2f}x")


if __name__ == "__main__":
    main()
