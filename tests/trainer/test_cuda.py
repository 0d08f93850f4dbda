"""The training loop on CUDA through the wire (skipped without a CUDA device)."""

from __future__ import annotations

import pytest
import torch
from test_gateway import BASE, Wire

from drydock.emulator import Emulator
from drydock.emulator.control_plane import JobSpec
from drydock.trainer import TorchRuntime

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_loop_trains_on_cuda(mode):
    emu = Emulator(runtime=TorchRuntime(mode, device="cuda", prestart=False))
    with emu:
        emu.control_plane.create_job("drydock", "gpu", JobSpec(base_model=BASE), dialect="fireworks")
        emu.advance(60)
        w = Wire(emu, "gpu")
        m = w.connect()
        data = [{"model_input": {"chunks": [{"type": "encoded_text", "tokens": list(range(1, 33))}]},
                 "loss_fn_inputs": {"target_tokens": {"data": list(range(2, 34)), "dtype": "int64",
                                                      "shape": [32]}}}]
        losses = []
        for i in range(10):
            fb = w.ok("forward_backward", {"forward_backward_input": {"data": data,
                                                                      "loss_fn": "cross_entropy"},
                                           "model_id": m, "seq_id": 2 * i + 1})
            st = w.ok("optim_step", {"adam_params": {"learning_rate": 0.02}, "model_id": m,
                                     "seq_id": 2 * i + 2})
            losses.append(w.result(fb["request_id"])["metrics"]["loss:sum"])
            assert "metrics" in w.result(st["request_id"])
        assert losses[-1] < 0.8 * losses[0]
