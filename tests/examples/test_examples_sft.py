"""The two SFT examples run end to end (in process and against a server URL), survive their
preemption, and — same data, same seed, same trainer — report the same per-step losses."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def drydock_losses() -> dict[int, float]:
    report = load("sft_drydock_sdk").run(["--steps", "5", "--preempt-at-step", "3"])
    assert report.final_step == 5 and report.recoveries == 1
    assert report.restored_from == ["step-2"]
    assert report.checkpoints == ["step-2", "step-4", "step-5"]
    return report.losses


def test_drydock_sdk_example_survives_a_preemption(drydock_losses):
    assert sorted(drydock_losses) == [0, 1, 2, 3, 4]


def test_fireworks_sdk_example_gives_the_same_losses(drydock_losses):
    pytest.importorskip("fireworks.training.sdk")
    out = load("sft_fireworks_sdk").run(["--steps", "5", "--preempt-at-step", "3"])
    assert out["final_step"] == 5 and out["recoveries"] == 1 and out["restored"] == ["step-2"]
    assert out["losses"] == pytest.approx(drydock_losses, rel=1e-6)


def test_drydock_sdk_example_against_a_server_url(capsys):
    common = load("_common")
    from drydock.emulator import Emulator, default_catalog
    from drydock.emulator.shapes import LocalModelConfig
    from drydock.trainer import thread_runtime

    catalog = default_catalog()
    for m in catalog.models:
        m.local = LocalModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                                   max_seq_len=32)
    with Emulator(seed=0, catalog=catalog, runtime=thread_runtime(grace_s=0.1),
                  accounts={"drydock": common.DEFAULT_KEY}, admin_token="tok") as emu, \
            emu.serve() as server:
        report = load("sft_drydock_sdk").run(["--url", server.url, "--admin-token", "tok",
                                              "--steps", "4", "--preempt-at-step", "3",
                                              "--job-id", "url-job"])
        assert report.final_step == 4 and report.recoveries == 1
        assert report.restored_from == ["step-2"]
        # the fault came in over /_drydock/faults; the waits advanced the server's clock
        assert [e.kind for e in emu.events.filter("fault.preempt", "url-job")] == ["fault.preempt"]
        assert emu.clock.elapsed() >= 60  # two provisionings of 30 virtual seconds
    assert "recoveries" in capsys.readouterr().out
