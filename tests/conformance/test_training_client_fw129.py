"""fireworks-ai 1.2.9 (over tinker 0.23.0) trains against drydock: a subprocess in .venv-fw129
connects to a job of this process's server (torch runtime, thread workers) and runs
forward_backward, optim_step, save_state, load_state with tinker types."""

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
DRIVER = Path(__file__).parent / "fw129_trainer" / "training_driver.py"

pytestmark = pytest.mark.skipif(not PY129.exists(),
                                reason=".venv-fw129 is missing (run scripts/setup.sh)")


def test_fw129_training_client_trains_saves_and_loads():
    with Emulator(seed=129, runtime=thread_runtime(torch_threads=1),
                  admin_token="fw129-admin") as emu, emu.serve() as server:
        env = {**os.environ, "FIREWORKS_API_KEY": emu.api_key, "DRYDOCK_ADMIN_TOKEN": "fw129-admin"}
        proc = subprocess.run([str(PY129), str(DRIVER), server.url, "fw129-train"], env=env,
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DRYDOCK_RESULT ")]
        assert lines, f"driver failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        out = json.loads(lines[-1].split(" ", 1)[1])
        assert "error" not in out, proc.stderr[-3000:]
        assert out["base_url"].endswith("/training/v1/rlorTrainerJobs/drydock/fw129-train")
        assert out["losses"][-1] < out["losses"][0]
        assert out["saved_path"] == "step-4"
        assert out["after_load"] == pytest.approx(out["at_save"], rel=1e-6)
        assert out["logprob_lengths"] == [5, 4]
        rows = emu.control_plane.list_checkpoints("drydock", "fw129-train")
        assert [(r.name, r.kind) for r in rows] == [("step-4", "TRAINING")]
        assert emu.control_plane.jobs[("drydock", "fw129-train")].steps == 5
