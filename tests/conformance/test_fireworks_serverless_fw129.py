"""fireworks-ai 1.2.9 (over tinker 0.23.0) on drydock's serverless trainers: a subprocess in
.venv-fw129 trains on a serverless session, is preempted (a fault armed here on its session's
job), and resumes in a new session from the newest trainingSessions checkpoint, bit-exact with an
uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from drydock.emulator import Emulator
from drydock.emulator.faults import Preempt
from drydock.trainer import thread_runtime

ROOT = Path(__file__).resolve().parents[2]
PY129 = ROOT / ".venv-fw129" / "bin" / "python"
DRIVER = Path(__file__).parent / "fw129_serverless" / "serverless_driver.py"

pytestmark = pytest.mark.skipif(not PY129.exists(),
                                reason=".venv-fw129 is missing (run scripts/setup.sh)")


def _result(stdout: str, stderr: str, rc: int) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("DRYDOCK_RESULT ")]
    assert lines, f"driver failed (rc={rc}):\n{stdout[-2000:]}\n{stderr[-3000:]}"
    out = json.loads(lines[-1].split(" ", 1)[1])
    assert "error" not in out, stderr[-3000:]
    return out


def test_fw129_serverless_sft_preempted_resumes_from_its_session_checkpoint():
    with Emulator(seed=129, runtime=thread_runtime(torch_threads=1)) as emu, emu.serve() as server:
        env = {**os.environ, "FIREWORKS_API_KEY": emu.api_key}
        ref = subprocess.run([str(PY129), str(DRIVER), server.url, "reference"], env=env,
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        reference = _result(ref.stdout, ref.stderr, ref.returncode)
        assert reference["session"].startswith("ts-") and reference["run_id"].startswith("run-")
        assert reference["losses"][-1] < reference["losses"][0]
        # 1.2.9 has no delete_training_session: free its pool slot over the REST API
        gone = httpx.delete(f"{server.url}/v1/{reference['session_name']}",
                            headers={"x-api-key": emu.api_key})
        assert gone.status_code == 200

        proc = subprocess.Popen([str(PY129), str(DRIVER), server.url, "preempted"], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT)
        first = proc.stdout.readline()
        assert first.startswith("DRYDOCK_SESSION "), first + proc.stderr.read()[-3000:]
        ts = first.split()[1]
        emu.control_plane.inject([Preempt(job=ts, at_step=5)])
        stdout, stderr = proc.communicate("go\n", timeout=300)
        out = _result(stdout, stderr, proc.returncode)
        assert "failure" in out and emu.control_plane.jobs[("drydock", ts)].preemptions == 1
        run = out["saved_4"].split("/")[1]  # a run's checkpoint id is `<run>.<name>`
        assert [r.rsplit("/", 1)[1] for r in out["rows"]] == [f"{run}.step-2", f"{run}.step-4"]
        assert out["resumed_from"] == out["saved_4"] and out["second_session"] != ts
        assert out["losses"][:4] == reference["losses"][:4]
        assert out["resumed"] == reference["losses"][4:]  # bit-exact after the resume
        assert out["final"] == reference["final"]
