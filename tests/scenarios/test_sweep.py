"""`drydock sweep` / `drydock.scenarios.sweep`: many seeds of one scenario, failures grouped with
their smallest seed, a replay command and a minimized fault plan; the same per-seed results in
this process, in a process pool and on Ray."""

from __future__ import annotations

import hashlib
import json
import multiprocessing

import pytest
from typer.testing import CliRunner

from drydock.cli import app
from drydock.scenarios import parse_scenario, run_scenario
from drydock.scenarios._sweep_plan import ddmin, fuzz_bounds, fuzz_faults
from drydock.scenarios.sweep import SweepError, make_backend, parse_seeds, run_sweep

runner = CliRunner()

# A client that never reconnects (max_reconnects: 0) on preemptible capacity: the seeds whose
# Poisson preemption lands while it holds the job fail; the others pass.
BROKEN = """\
name: never-reconnects
seed: 1
timings: {provision_s: 30}
jobs:
  - id: spot
    base_model: accounts/fireworks/models/qwen3-0p6b
    shape: accounts/fireworks/trainingShapes/qwen3-0p6b-32k-h100
    preemptible: true
faults:
  - {kind: preempt, job: spot, rate_per_hour: 2, until_s: 1200}
workload:
  name: lifecycle
  params: {hold_s: 900, check_every_s: 60, max_reconnects: 0}
expect:
  outcome: ok
  jobs:
    spot: {final_state: DELETED}
"""
GROUP = "outcome (WorkloadGaveUp)"


@pytest.fixture(scope="module")
def broken_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "never-reconnects.yaml"
    path.write_text(BROKEN)
    return path


@pytest.fixture(scope="module")
def broken():
    return parse_scenario(BROKEN)


@pytest.fixture(scope="module")
def sweep50(broken, broken_file):
    return run_sweep(broken, parse_seeds("1-50"), source=str(broken_file), workers=1)


def _per_seed(rows):
    return {r["seed"]: (r["passed"], r["group"], r["digest"]) for r in rows}


def test_a_50_seed_sweep_finds_groups_and_minimizes_the_failures(sweep50, broken_file):
    r = sweep50
    assert [row["seed"] for row in r.rows] == list(range(1, 51))
    assert 5 <= r.failed <= 45 and r.passed + r.failed == 50  # a seed-dependent bug
    (g,) = r.groups
    assert g.key == GROUP
    assert g.seeds == [row["seed"] for row in r.rows if not row["passed"]]
    assert g.smallest_seed == g.seeds[0] and g.count == r.failed
    assert g.replay == f"drydock run {broken_file} --seed {g.smallest_seed}"
    assert "WorkloadGaveUp: gave up on job spot" in g.example["error"]
    # the one fault is needed: without it the run passes
    assert g.minimized_faults == [{"kind": "preempt", "job": "spot", "rate_per_hour": 2.0,
                                   "until_s": 1200.0}]
    assert g.minimize_runs == 1
    # distinct digests: each seed drew its own preemption times
    assert len({row["digest"] for row in r.rows if not row["passed"]}) == r.failed


def test_the_smallest_seed_replays_to_the_same_failure(sweep50, broken, broken_file):
    g = sweep50.groups[0]
    again = run_scenario(broken, seed=g.smallest_seed, source=str(broken_file))
    assert not again.passed
    assert [c.name for c in again.failures] == g.example["failed"] == ["outcome"]
    assert again.error == g.example["error"]
    # byte-identical event log: a sweep worker's run (patches held) is a plain `drydock run`
    assert hashlib.sha256(again.events_jsonl().encode()).hexdigest() == g.example["digest"]
    res = runner.invoke(app, g.replay.split()[1:] + ["--no-live", "--timeline-limit", "0"])
    assert res.exit_code == 1, res.output
    assert "WorkloadGaveUp" in res.output


def test_same_per_seed_results_in_process_in_a_pool_and_on_ray(sweep50, broken, broken_file):
    ray = pytest.importorskip("ray")
    want = {s: v for s, v in _per_seed(sweep50.rows).items() if s <= 10}
    pooled = run_sweep(broken, parse_seeds("1-10"), source=str(broken_file), workers=2,
                       minimize=False)
    assert pooled.backend == "process pool" and pooled.workers == 2
    assert len({row["worker"] for row in pooled.rows}) == 2
    assert _per_seed(pooled.rows) == want
    assert multiprocessing.active_children() == []  # the pool is gone
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_sweep(broken, parse_seeds("1-10"), source=str(broken_file),
                           backend=make_backend(ray=True), minimize=False)
    finally:
        ray.shutdown()
    assert on_ray.backend == "ray"
    assert _per_seed(on_ray.rows) == want


def test_stop_after_failures(broken, broken_file):
    r = run_sweep(broken, parse_seeds("1-50"), source=str(broken_file), workers=1,
                  stop_after_failures=2, minimize=False)
    assert r.failed == 2 and r.stopped_early and len(r.rows) < 50
    assert r.rows[-1]["passed"] is False  # it stopped right after the second failure


def test_fuzzed_plans_are_per_seed_deterministic_and_within_the_scenarios_bounds(broken):
    b = fuzz_bounds(broken)
    assert b.jobs == ("spot",) and b.max_time_s == 900 + 30 + 60
    assert "trainer_crash" not in b.kinds  # lifecycle runs no trainer: no step-triggered kinds
    plans = {seed: fuzz_faults(b, seed) for seed in range(1, 21)}
    assert all(fuzz_faults(b, seed) == plan for seed, plan in list(plans.items())[:5])
    assert len({repr(p) for p in plans.values()}) >= 15  # seeds differ
    for plan in plans.values():
        assert 1 <= len(plan) <= 3
        for f in plan:
            assert f.kind in b.kinds
            assert getattr(f, "job", "spot") in ("spot", "*")
            for attr in ("at_s", "after_running_s", "from_s"):
                assert (getattr(f, attr, None) or 0) <= b.max_time_s


def test_a_fuzzed_sweep_records_each_seeds_plan(broken, broken_file):
    # drawn in two spawned workers (their own hash seeds), compared with this process's draw
    r = run_sweep(broken, parse_seeds("3-6"), source=str(broken_file), workers=2,
                  fuzz_faults=True, minimize=False)
    assert len({row["worker"] for row in r.rows}) == 2
    b = fuzz_bounds(broken)
    for row in r.rows:
        fuzzed = [{"kind": f.kind, **f.model_dump(mode="json", exclude_defaults=True)}
                  for f in fuzz_faults(b, row["seed"])]
        assert row["faults"] == [{"kind": "preempt", "job": "spot", "rate_per_hour": 2.0,
                                  "until_s": 1200.0}] + fuzzed
    for g in r.groups:
        assert g.replay == f"drydock sweep {broken_file} --seeds {g.smallest_seed} --fuzz-faults"


def test_ddmin_finds_a_one_minimal_failing_subset():
    runs: list[list[int]] = []

    def fails(xs):
        runs.append(xs)
        return 3 in xs and 7 in xs

    assert ddmin(list(range(10)), fails) == [3, 7]
    assert ddmin([1, 2, 3], lambda xs: True) == []
    assert ddmin([5], lambda xs: 5 in xs) == [5]


def test_cli_sweep_writes_rows_summary_png_and_a_replayable_minimized_plan(broken_file, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(broken_file), "--seeds", "1-8", "--workers", "1",
                              "--out", str(out)])
    assert res.exit_code == 1, res.output  # some seeds fail
    assert "8/8 runs," in res.output and "runs/s" in res.output  # progress, plain (no tty)
    assert "failures by expectation" in res.output and GROUP in res.output
    rows = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in rows] == list(range(1, 9))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 8 and summary["failed"] == sum(not r["passed"] for r in rows)
    (g,) = summary["groups"]
    assert g["group"] == GROUP and g["smallest_seed"] == min(r["seed"] for r in rows
                                                              if not r["passed"])
    assert (out / "outcomes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert g["replay_minimized"].startswith(f"drydock run {out / 'failures'}")
    rep = runner.invoke(app, g["replay_minimized"].split()[1:] + ["--no-live",
                                                                  "--timeline-limit", "0"])
    assert rep.exit_code == 1 and "WorkloadGaveUp" in rep.output


@pytest.mark.parametrize("args, message", [
    (["no-such-scenario", "--seeds", "1-5"], "no built-in scenario 'no-such-scenario'"),
    (["{file}", "--seeds", "10-1"], "reversed"),
    (["{file}", "--seeds", ""], "bad seed range"),
    (["{file}", "--seeds", "one-ten"], "bad seed range"),
    (["{file}", "--ray", "--seeds", "9-2"], "reversed"),  # `--ray` alone takes no value
    (["{file}", "--seeds", "1-5", "--ray", "127.0.0.1:9"], "no Ray cluster answers at "
                                                            "127.0.0.1:9"),
])
def test_bad_input_exits_2_with_a_clear_message_and_leaves_nothing_running(
        args, message, broken_file):
    res = runner.invoke(app, ["sweep"] + [a.format(file=broken_file) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert multiprocessing.active_children() == []
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()


def test_parse_seeds():
    assert parse_seeds("1-10000") == range(1, 10001)
    assert parse_seeds("7") == range(7, 8)
    with pytest.raises(SweepError, match="reversed"):
        parse_seeds("5-1")
    with pytest.raises(SweepError, match="at most"):
        parse_seeds("0-99999999999")


def test_fuzzing_a_workload_without_a_trainer_draws_no_step_faults() -> None:
    # A lifecycle scenario trains nothing: an at_step fault could never fire (inject refuses it).
    from drydock.emulator import Emulator, FaultPlan
    from drydock.scenarios import load_builtin

    b = fuzz_bounds(load_builtin("create-response-lost"))
    assert b.max_step == 0
    plans = [fuzz_faults(b, seed) for seed in range(1, 41)]
    assert any(plans) and all(getattr(f, "at_step", None) is None for p in plans for f in p)
    for plan in plans:
        Emulator(seed=0).inject(FaultPlan(faults=plan))  # each one arms
