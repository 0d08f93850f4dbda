"""Hypothesis examples per second of the job state-machine property test.

Runs tests/property/test_job_state_machine.py's `JobMachine` under its own settings profile and
prints examples/s (target >= 100/s) and steps/s. The baseline, measured in the same run, is the
same machine with its invariant checks switched off, so the ratio shows what the checks cost.
Compare the CPU-time rates: wall time moves with whatever else shares the cores.

    .venv/bin/python benchmarks/bench_state_machine.py [--examples 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "property"))
import test_job_state_machine as sm

TARGET = 100.0


def _measure(machine: type, profile: settings, examples: int,
             check: bool = True) -> tuple[float, float, int, int]:
    """(wall s, cpu s, examples run, steps run) of one full hypothesis run."""
    counts = {"examples": 0, "steps": 0}

    class Counted(machine):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            counts["examples"] += 1

        def check_invariants(self, settings, output, runtimes):
            counts["steps"] += 1  # called once after every step
            if check:
                super().check_invariants(settings, output, runtimes)

    run_settings = settings(profile, max_examples=examples)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run_state_machine_as_test(Counted, settings=run_settings)
    return (time.perf_counter() - wall0, time.process_time() - cpu0,
            counts["examples"], counts["steps"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rows = []
    for label, check in (("with invariants", True), ("no invariants", False)):
        best = None
        for _ in range(args.repeat):
            wall, cpu, n, steps = _measure(sm.JobMachine, sm.PROFILE, args.examples, check)
            if best is None or n / cpu > best[2] / best[1]:
                best = (wall, cpu, n, steps)
        rows.append((label, *best))

    print(f"state machine: max_examples={args.examples}, "
          f"stateful_step_count={sm.PROFILE.stateful_step_count}, best of {args.repeat}")
    for label, wall, cpu, n, steps in rows:
        print(f"  {label:16s} {n:4d} examples  {n / wall:7.1f} ex/s wall  {n / cpu:7.1f} ex/s cpu"
              f"  {steps / cpu:8.0f} steps/s cpu")
    full, bare = rows[0], rows[1]
    rate = full[3] / full[2]
    print(f"examples/s (cpu time, with invariants): {rate:.1f}  target >= {TARGET:.0f}: "
          f"{'OK' if rate >= TARGET else 'BELOW'}")
    print(f"ratio vs no-invariant baseline: {rate / (bare[3] / bare[2]):.2f}")


if __name__ == "__main__":
    main()
