"""The RL step driven by fireworks-ai 1.2.9 + tinker 0.23.0 (the pair public RL programs pin),
in its own environment: a subprocess in .venv-fw129 runs fw129_deployments/rl_driver.py against
this process's server (torch runtime, thread workers)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from drydock.emulator import Emulator
from drydock.trainer import thread_runtime

ROOT = Path(__file__).resolve().parents[2]
PY129 = ROOT / ".venv-fw129" / "bin" / "python"
DRIVER = Path(__file__).parent / "fw129_deployments" / "rl_driver.py"

pytestmark = pytest.mark.skipif(not PY129.exists(),
                                reason=".venv-fw129 is missing (run scripts/setup.sh)")


def test_fw129_tinker_rl_step():
    with Emulator(seed=129, runtime=thread_runtime(torch_threads=1),
                  admin_token="fw129-admin") as emu, emu.serve() as server:
        env = {**os.environ, "FIREWORKS_API_KEY": emu.api_key,
               "DRYDOCK_ADMIN_TOKEN": "fw129-admin"}
        proc = subprocess.run([str(PY129), str(DRIVER), server.url, "rl129", "rollout129"],
                              env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DRYDOCK_RESULT ")]
        assert lines, f"driver failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
        out = json.loads(lines[-1].split(" ", 1)[1])
        assert "error" not in out, proc.stderr[-3000:]
        assert out["before_create"] is None          # GET 404 before the create
        assert out["created_state"] in ("CREATING", "READY") and out["ready_state"] == "READY"
        assert out["n_samples"] == 4
        assert out["step0"].startswith("step-0-") and out["step1"].startswith("step-1-")
        assert out["status"]["current_snapshot_identity"] == out["step1"]
        assert out["step0_logprobs_match"] and out["step1_logprobs_match"]
        assert out["int_weights_loss"] > 0
        assert out["echo_rows"] == 5 and out["echo_matches"]   # P + C - 1 training-aligned rows
        assert out["after_delete"] is None
        loads = emu.events.filter("deployment.hot_loaded")
        assert [e.detail["delta"] for e in loads] == [False, True]
