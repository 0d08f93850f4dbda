"""Seed-sweep throughput: runs per second of a short lifecycle scenario with 1 and 2 local workers
and on a local Ray, Ray's overhead per run against the process pool, and where one run's wall
time goes.

    .venv/bin/python benchmarks/bench_sweep.py [--runs 200] [--scenario create-response-lost]
                                               [--no-ray]

Targets (issue 14, a 2-core machine): >= 10 runs/s with 2 workers; 2 workers >= 1.7x one.
"Steady" rates leave out each backend's start-up (spawning workers, starting Ray, each worker's
first run with its imports): the rows after the first 2 per worker, over the time they took.
Baseline in the same run: one worker in this process, and one run without `keep_patched`
(what each run paid before a worker kept the time warp's patches installed).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time


def _timed_sweep(scenario, seeds, source, **kw):
    from drydock.scenarios.sweep import run_sweep

    stamps: list[float] = []
    t0 = time.perf_counter()
    result = run_sweep(scenario, seeds, source=source, minimize=False,
                       on_row=lambda row: stamps.append(time.perf_counter()), **kw)
    total = time.perf_counter() - t0
    skip = 2 * result.workers
    steady = (len(stamps) - skip - 1) / (stamps[-1] - stamps[skip]) if len(stamps) > skip + 2 \
        else float("nan")
    inner = statistics.mean(r["wall_s"] for r in result.rows[skip:])
    return result, total, steady, inner


def _phases(scenario, seed: int) -> dict[str, float]:
    """Cumulative wall seconds of the parts of one run (cProfile; profiling adds overhead)."""
    from drydock.scenarios import run_scenario

    prof = cProfile.Profile()
    prof.enable()
    t0 = time.perf_counter()
    run_scenario(scenario, seed=seed)
    total = time.perf_counter() - t0
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    wanted = {
        "emulator build (Emulator.__init__)": ("emulator.py", "__init__"),
        "FastAPI app build (Emulator.app, per run)": ("emulator.py", "app"),
        "server start (ServerThread.start)": ("server.py", "start"),
        "server stop (ServerThread.stop)": ("server.py", "stop"),
        "time warp enter (VirtualTime.__enter__)": ("virtual_time.py", "__enter__"),
        "time warp exit (VirtualTime.__exit__)": ("virtual_time.py", "__exit__"),
        "workload: real SDK over HTTP (lifecycle)": ("workloads.py", "lifecycle"),
        "settle (virtual advance)": ("runner.py", "_settle"),
        "expectations": ("expectations.py", "check_expectations"),
        "emulator close": ("emulator.py", "close"),
    }
    out = {}
    for label, (file, name) in wanted.items():
        out[label] = sum(v[3] for k, v in stats.items() if k[0].endswith(file) and k[2] == name)
    out["total (profiled)"] = total
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="seeds per backend")
    ap.add_argument("--scenario", default="create-response-lost")
    ap.add_argument("--no-ray", action="store_true", help="skip the local Ray measurement")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from drydock.scenarios import load_builtin, run_scenario
    from drydock.scenarios.sweep import make_backend
    from drydock.testing import keep_patched

    scenario = load_builtin(args.scenario)
    print(f"imports: {time.perf_counter() - t0:.2f} s")
    t = time.perf_counter()
    run_scenario(scenario, seed=0)
    print(f"first run in a fresh process (client-library imports included): "
          f"{time.perf_counter() - t:.2f} s")

    # ---- where one run's wall time goes
    plain = []
    for seed in range(1, 6):
        t = time.perf_counter()
        run_scenario(scenario, seed=seed)
        plain.append(time.perf_counter() - t)
    with keep_patched():
        held = []
        for seed in range(1, 6):
            t = time.perf_counter()
            run_scenario(scenario, seed=seed)
            held.append(time.perf_counter() - t)
        phases = _phases(scenario, 7)
    print(f"one run, warm process: {statistics.median(plain) * 1000:.0f} ms with the warp's "
          f"patches installed and removed per run; {statistics.median(held) * 1000:.0f} ms with "
          f"them held (keep_patched, what a sweep worker does)")
    print("where a held run's wall time goes (cProfile, cumulative, its overhead included; the "
          "rest is the emulator's request handling in the server thread):")
    for label, secs in phases.items():
        print(f"  {label:44s} {secs * 1000:7.1f} ms")

    # ---- throughput
    seeds = range(1, args.runs + 1)
    rows = []
    for label, kw in (("1 worker (in process)", {"workers": 1}),
                      ("2 workers (process pool)", {"workers": 2})):
        r, total, steady, inner = _timed_sweep(scenario, seeds, args.scenario, **kw)
        rows.append((label, r, total, steady, inner))
    if not args.no_ray:
        try:
            t = time.perf_counter()
            backend = make_backend(2, ray=True)
            ray_start = time.perf_counter() - t
        except Exception as exc:  # ray not installed, or it could not start here
            print(f"ray: skipped ({exc})")
        else:
            with backend:
                r, total, steady, inner = _timed_sweep(scenario, seeds, args.scenario,
                                                       backend=backend)
            rows.append((f"local Ray, 2 CPUs (+{ray_start:.1f} s ray.init)", r, total, steady,
                         inner))
    digests = {tuple(sorted((x["seed"], x["digest"]) for x in r.rows)) for _, r, *_ in rows}
    print(f"\n{args.runs} runs of {args.scenario} per backend "
          f"(same per-seed event-log digests on every backend: {len(digests) == 1})")
    print(f"  {'backend':44s} {'total':>8s} {'runs/s':>8s} {'steady':>8s} {'run in worker':>14s}")
    for label, r, total, steady, inner in rows:
        print(f"  {label:44s} {total:7.2f}s {len(r.rows) / total:8.1f} {steady:8.1f} "
              f"{inner * 1000:12.0f}ms")
    one, two = rows[0][3], rows[1][3]
    print(f"\n2 workers vs 1 (steady): {two / one:.2f}x (target >= 1.7x); 2 workers: "
          f"{two:.1f} runs/s (target >= 10)")
    if len(rows) > 2:
        ray_steady = rows[2][3]
        per_run = (2 / ray_steady - 2 / two) * 1000
        print(f"Ray overhead per run vs the process pool (steady, per worker): {per_run:+.1f} ms "
              f"({ray_steady:.1f} vs {two:.1f} runs/s)")


if __name__ == "__main__":
    main()
