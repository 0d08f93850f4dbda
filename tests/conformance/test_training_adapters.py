"""`load_adapter` with the real fireworks-ai 1.2.28 client: a LoRA job's sampler checkpoint is
promoted to a PEFT model, and a fresh LoRA session loads it (weights only) and then computes
what the first job computed; bad adapters fail the future with a clear message."""

from __future__ import annotations

import pytest

fw = pytest.importorskip("fireworks.training.sdk")

from test_training_client import ADAM, BASE, Session, fb_loss, fwd_loss  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=7, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        yield emu, server


def _promoted_adapter(emu, server) -> tuple[str, float]:
    src = Session(emu, server, "adapter-src", lora_rank=4)
    try:
        for _ in range(3):
            fb_loss(src.tc)
            src.tc.optim_step(ADAM).result(timeout=60)
        trained = fwd_loss(src.tc)
        src.tc.save_weights_for_sampler("adapter-1").result(timeout=60)
        rows = [r for r in src.mgr.list_checkpoints("adapter-src") if r["promotable"]]
        model = src.mgr.promote_checkpoint(name=rows[-1]["name"], output_model_id="my-adapter",
                                           base_model=BASE)
        return model["name"], trained
    finally:
        src.close()


def test_load_adapter_round_trip(served):
    emu, server = served
    name, trained = _promoted_adapter(emu, server)
    dst = Session(emu, server, "adapter-dst", lora_rank=4)
    try:
        fresh = fwd_loss(dst.tc)
        assert fresh != pytest.approx(trained)
        out = dst.tc.load_adapter(name).result(timeout=60)
        assert out.type == "load_adapter" and out.adapter_path == name
        assert out.model_id == dst.tc.model_id
        assert fwd_loss(dst.tc) == pytest.approx(trained, rel=1e-6)
        # training goes on from the adapter
        fb_loss(dst.tc)
        dst.tc.optim_step(ADAM).result(timeout=60)
        assert fwd_loss(dst.tc) < trained
    finally:
        dst.close()


def test_bad_adapters_fail_the_future(served):
    emu, server = served
    full = Session(emu, server, "adapter-full")
    lora = Session(emu, server, "adapter-lora", lora_rank=2)
    try:
        with pytest.raises(fw.RequestFailedError, match="base model, not a PEFT model"):
            full.tc.load_adapter(BASE).result(timeout=60)
        with pytest.raises(fw.RequestFailedError, match="no-such-adapter"):
            lora.tc.load_adapter("accounts/drydock/models/no-such-adapter").result(timeout=60)
        with pytest.raises(fw.RequestFailedError, match="gs:// is not reachable"):
            lora.tc.load_adapter("gs://bucket/adapter").result(timeout=60)
        with pytest.raises(ValueError, match="non-empty"):
            lora.tc.load_adapter("  ")
        fb_loss(lora.tc)  # still trains
    finally:
        full.close()
        lora.close()
