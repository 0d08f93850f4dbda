"""The capabilities of issue 11 with fireworks-ai 1.2.9 + tinker 0.23.0 (the pair many programs
pin), in its own environment: a subprocess in .venv-fw129 runs
fw129_capabilities/capabilities_driver.py against this process's server (torch runtime, thread
workers). Embedding outputs (mean, last), the cosine-similarity matrix and the server-side
contrastive loss each train an embedding model whose loss falls; bad configs are user errors;
load_adapter loads a PEFT model promoted here with the 1.2.28 client. 1.2.9 has no weight_sync."""

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
DRIVER = Path(__file__).parent / "fw129_capabilities" / "capabilities_driver.py"

pytestmark = pytest.mark.skipif(not PY129.exists(),
                                reason=".venv-fw129 is missing (run scripts/setup.sh)")


def test_fw129_embeddings_contrastive_and_load_adapter():
    pytest.importorskip("fireworks.training.sdk")
    from test_training_adapters import _promoted_adapter  # same folder (pytest rootdir)
    from test_training_client import SEQS

    with Emulator(seed=129, runtime=thread_runtime(torch_threads=1),
                  admin_token="fw129-admin") as emu, emu.serve() as server:
        adapter, trained = _promoted_adapter(emu, server)  # with the 1.2.28 client
        env = {**os.environ, "FIREWORKS_API_KEY": emu.api_key, "DRYDOCK_ADMIN_TOKEN": "fw129-admin"}
        proc = subprocess.run([str(PY129), str(DRIVER), server.url, "cap129", "cap129-lora",
                               adapter, json.dumps(SEQS)], env=env, capture_output=True, text=True, timeout=300,
                              cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DRYDOCK_RESULT ")]
    assert lines, f"driver failed (rc={proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    out = json.loads(lines[-1].split(" ", 1)[1])
    assert "error" not in out, proc.stderr[-3000:]
    for mode in ("embedding_mean", "embedding_last", "cos_similarity_matrix", "contrastive"):
        losses = out[mode]
        assert losses[-1] < losses[0], (mode, losses)
    # each mode started from the same model, and mean and last pooling differ
    assert out["embedding_mean"][0] != out["embedding_last"][0]
    bad = out["bad"]
    assert {b["type"] for b in bad.values()} == {"RequestFailedError"}, bad
    assert {b["category"] for b in bad.values()} == {"user"}, bad
    assert "temperature must be a number > 0" in bad["temperature_0"]["message"]
    assert "Unsupported pooling='max'" in bad["pooling_max"]["message"]
    assert "output must be one of" in bad["output_unknown"]["message"]
    assert "['margin'] are not supported" in bad["extra_key"]["message"]
    assert out["after_bad"] == out["before_bad"] > 0
    assert out["load_adapter"] == {"type": "load_adapter", "adapter_path": adapter,
                                   "model_id_matches": True}
    assert out["lora_fresh"] != pytest.approx(trained)
    assert out["lora_loaded"] == pytest.approx(trained, rel=1e-6)
    assert out["bad_adapter"]["type"] == "RequestFailedError"
    assert "nope" in out["bad_adapter"]["message"]
