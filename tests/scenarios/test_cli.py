"""The `drydock` CLI: run / replay / list / show / validate, exit codes, --out files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drydock.cli import app
from drydock.scenarios import builtin_names, load_builtin, parse_scenario

runner = CliRunner()

QUICK = """\
name: quick
seed: 3
jobs:
  - id: quick-job
    base_model: accounts/fireworks/models/qwen3-0p6b
    shape: accounts/fireworks/trainingShapes/qwen3-0p6b-32k-h100
faults:
  - {kind: preempt, job: quick-job, after_running_s: 60}
workload:
  name: lifecycle
  params: {hold_s: 180, check_every_s: 30}
expect:
  outcome: ok
  jobs:
    quick-job: {final_state: DELETED, min_resumes: 1}
"""


@pytest.fixture
def quick(tmp_path):
    path = tmp_path / "quick.yaml"
    path.write_text(QUICK)
    return path


def test_run_passes_writes_outputs_and_replays(quick, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(quick), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "PASS quick (seed 3)" in res.output
    assert "timeline" in res.output and "fault.preempt" in res.output
    events = (out / "events.jsonl").read_text().splitlines()
    assert json.loads(events[0])["kind"] == "scenario.start"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True and summary["seed"] == 3
    assert summary["timeline"]["lanes"] == ["quick-job"]
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = runner.invoke(app, ["replay", str(out / "events.jsonl")])
    assert rep.exit_code == 0, rep.output
    assert "IDENTICAL" in rep.output


def test_replay_detects_a_changed_log(quick, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", str(quick), "--out", str(out)]).exit_code == 0
    log = out / "events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace('"t":', '"t":1', 1)  # as if an event had happened later
    log.write_text("".join(lines))
    rep = runner.invoke(app, ["replay", str(out)])  # the --out folder works too
    assert rep.exit_code == 1
    assert "REPLAY DIFFERS" in rep.output and "line 6" in rep.output
    assert "seed 3" in rep.output and f"drydock run {quick} --seed 3" in rep.output
    rep = runner.invoke(app, ["replay", str(out / "summary.json")])  # the summary works too
    assert rep.exit_code == 1 and "REPLAY DIFFERS" in rep.output


def test_seed_override_is_recorded(quick, tmp_path):
    out = tmp_path / "o"
    res = runner.invoke(app, ["run", str(quick), "--seed", "11", "--out", str(out)])
    assert res.exit_code == 0, res.output
    first = json.loads((out / "events.jsonl").read_text().splitlines()[0])
    assert first["detail"]["seed"] == 11
    assert f"drydock run {quick} --seed 11" in res.output


def test_failed_expectation_exits_1_with_seed_and_replay_command(tmp_path):
    path = tmp_path / "wrong.yaml"
    path.write_text(QUICK + "  job_count: 2\n")
    res = runner.invoke(app, ["run", str(path), "--timeline-limit", "0"])
    assert res.exit_code == 1, res.output
    assert "FAIL quick" in res.output and "seed 3" in res.output
    assert f"drydock run {path} --seed 3" in res.output
    assert "job_count" in res.output and "1 job(s) exist (expected 2)" in res.output


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("bad,line,words", [
    ("seed: 3\nflavour: x", 3, "unknown key"),
    ("seed: many", 2, "integer"),
])
def test_bad_file_exits_2_with_file_and_line(tmp_path, command, bad, line, words):
    path = tmp_path / "bad.yaml"
    path.write_text(QUICK.replace("seed: 3", bad))
    res = runner.invoke(app, [command, str(path)])
    assert res.exit_code == 2, res.output
    assert f"{path}:{line}:" in res.output and words in res.output


def test_bad_fault_kind_and_negative_time_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(QUICK.replace("{kind: preempt, job: quick-job, after_running_s: 60}",
                                  "{kind: preempt, job: quick-job, after_running_s: -60}\n"
                                  "  - {kind: solar_flare, at_s: 1}"))
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2
    assert f"{path}:8: faults[0].after_running_s" in res.output
    assert f"{path}:9: faults[1]" in res.output and "solar_flare" in res.output


def test_unknown_scenario_and_missing_log_exit_2(tmp_path):
    assert runner.invoke(app, ["run", "no-such-scenario"]).exit_code == 2
    assert runner.invoke(app, ["run", str(tmp_path / "missing.yaml")]).exit_code == 2
    assert runner.invoke(app, ["replay", str(tmp_path / "nope.jsonl")]).exit_code == 2
    notlog = tmp_path / "x.jsonl"
    notlog.write_text('{"t":0,"seq":0,"kind":"job.state","account":"","job":"","detail":{}}\n')
    res = runner.invoke(app, ["replay", str(notlog)])
    assert res.exit_code == 2 and "not a drydock scenario log" in res.output


def test_list_show_validate_builtins():
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0
    for name in builtin_names():
        assert name in res.output
    res = runner.invoke(app, ["show", "preempt-mid-step"])
    assert res.exit_code == 0 and "at_step: 7" in res.output
    assert parse_scenario(res.output) == load_builtin("preempt-mid-step")  # piped: exact text
    res = runner.invoke(app, ["validate", "preempt-mid-step"])
    assert res.exit_code == 0 and "ok:" in res.output
    assert runner.invoke(app, ["show", "nope"]).exit_code == 2


def test_workload_override_shows_what_a_naive_client_does(quick):
    res = runner.invoke(app, ["run", "preempt-mid-step", "--workload", "sft-broken",
                              "--timeline-limit", "0"])
    assert res.exit_code == 1, res.output
    assert "FAIL preempt-mid-step" in res.output and "workload failed:" in res.output
    assert "drydock run preempt-mid-step --workload sft-broken --seed 1" in res.output
    # the override is validated like a file: lifecycle params are not sft params
    res = runner.invoke(app, ["run", str(quick), "--workload", "sft-broken"])
    assert res.exit_code == 2 and "workload.params.hold_s: unknown key" in res.output
    res = runner.invoke(app, ["run", str(quick), "--workload", "nope"])
    assert res.exit_code == 2 and "unknown workload 'nope'" in res.output


# ------------------------------------------------------------------ missing client library
_WITHOUT = """
import sys

class _NotInstalled:
    # As if the package were not installed: every import of it (and find_spec) fails.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
sys.argv = ["drydock", *{args!r}]
from drydock.cli import main
main()
"""


def _drydock_without(blocked: set[str], *args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", _WITHOUT.format(blocked=blocked, args=list(args))],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("scenario, blocked, extra", [
    ("preempt-mid-step", {"fireworks"}, "fireworks"),
    ("idle-auto-stop", {"fireworks"}, "fireworks"),
    ("preempt-mid-step", {"fireworks", "torch"}, "trainer,fireworks"),
])
def test_a_workload_whose_client_is_missing_names_the_extra_and_exits_2(scenario, blocked, extra):
    out = _drydock_without(blocked, "run", scenario, "--no-live")
    assert out.returncode == 2, out.stderr
    assert f"pip install 'drydock-emulator[{extra}]'" in out.stderr
    assert "Traceback" not in out.stderr and "expectation" not in out.stdout


def test_out_without_matplotlib_names_the_report_extra_before_running(tmp_path):
    out = _drydock_without({"matplotlib"}, "run", "preempt-mid-step", "--no-live",
                           "--out", str(tmp_path / "o"))
    assert out.returncode == 2, out.stderr
    assert "pip install 'drydock-emulator[report]'" in out.stderr
    assert not (tmp_path / "o").exists()  # stopped before the run, not after it


def test_the_missing_library_check_sees_what_is_installed():
    from drydock.scenarios.workloads import get_workload, missing_extras

    # fireworks and torch are installed here (drydock[all]): nothing is missing.
    assert missing_extras(get_workload("sft-fireworks")) == []
    assert get_workload("sft-fireworks").requires == {"torch": "trainer", "fireworks": "fireworks"}
    assert get_workload("sft-drydock").requires == {"torch": "trainer"}


def test_version():
    from drydock.wire import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"drydock {__version__}"
