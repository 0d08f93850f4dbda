"""The built-in Kubeflow scenarios pass under `run_scenario` (as `drydock run` runs them) and
replay byte-identically: same seed, same event log, whatever the pods' real speed."""

from __future__ import annotations

import pytest

pytest.importorskip("kubeflow.trainer")

from drydock.scenarios import load_builtin, replay_log, run_scenario


@pytest.mark.parametrize("name", ["kubeflow-preempted-multi-node-restarted",
                                  "kubeflow-failing-job-reported"])
def test_kubeflow_scenario_passes_and_replays_identically(name, tmp_path):
    result = run_scenario(load_builtin(name))
    assert result.passed, "\n".join(f"{c.name}: {c.detail}" for c in result.failures)
    log = tmp_path / "events.jsonl"
    log.write_text(result.events_jsonl())
    again = replay_log(log)  # raises ReplayMismatch unless byte-identical
    assert again.events_jsonl() == result.events_jsonl()
