"""Training steps/s through the real fireworks-ai 1.2.28 client vs a bare torch loop, same run.

    .venv/bin/python benchmarks/bench_trainer_wire.py [--model qwen3-8b] [--batch 16] [--seq 256]
                                                      [--steps 20] [--rounds 3]

Same model config and data in every arm:
  bare     `_baseline.bare_loop_steps_per_s` (forward, backward, AdamW; no drydock)
  process  the real FiretitanTrainingClient over loopback HTTP -> gateway -> worker process
  thread   the same client and server, worker thread in the server's process
A step is `forward_backward(cross_entropy)` + `optim_step`, both submitted before waiting (as
training loops do). Prints steps/s and the ratios bare/arm (targets: process <= 1.10x,
thread <= 1.03x). Small batches make the fixed per-op cost (two HTTP submits and polls) dominate.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baseline import bare_loop_steps_per_s

from drydock.emulator import (
    Emulator,
    default_catalog,
)
from drydock.emulator.dialects.fireworks.tinker.datums import make_datum
from drydock.testing import virtual_time
from drydock.trainer import TorchRuntime


def make_batch(vocab: int, batch: int, seq: int) -> list[dict]:
    return [make_datum([(b * 131 + i * 7) % vocab for i in range(seq + 1)]) for b in range(batch)]


class ClientArm:
    """A served emulator (given runtime mode) with a connected real training client."""

    def __init__(self, mode: str, base: str, batch: list[dict]) -> None:
        from fireworks.training import sdk as fw
        from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager

        self.emu = Emulator(seed=0, runtime=TorchRuntime(mode))
        self.server = self.emu.serve()
        mgr = TrainerJobManager(api_key=self.emu.api_key, base_url=self.server.url)
        with virtual_time(self.emu):
            ep = mgr.create_and_wait(TrainerJobConfig(base_model=base,
                                                      requested_job_id=f"bench-{mode}"))
        self.service = fw.FiretitanServiceClient(base_url=ep.base_url, api_key=self.emu.api_key)
        self.tc = self.service.create_training_client(base_model=base)
        self.data = [fw.Datum(model_input=fw.ModelInput.from_ints(
                                  d["model_input"]["chunks"][0]["tokens"]),
                              loss_fn_inputs={"target_tokens":
                                              d["loss_fn_inputs"]["target_tokens"]["data"]})
                     for d in batch]
        self.adam = fw.AdamParams(learning_rate=1e-4, beta1=0.9, beta2=0.95, eps=1e-12)
        self.steps_per_s(3)  # warm up

    def steps_per_s(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            fb = self.tc.forward_backward(self.data, "cross_entropy")
            st = self.tc.optim_step(self.adam)
            fb.result()
            st.result()
        return steps / (time.perf_counter() - t0)

    def close(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.service.close()
        self.server.stop()
        self.emu.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen3-8b")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    entry = default_catalog().model(f"accounts/fireworks/models/{args.model}")
    batch = make_batch(entry.local.vocab_size, args.batch, args.seq)
    print(f"model {entry.name} local={entry.local.model_dump()} batch={args.batch}x{args.seq} "
          f"steps={args.steps}")
    arms = {"process": ClientArm("process", entry.name, batch),
            "thread": ClientArm("thread", entry.name, batch)}
    best = {"bare": 0.0, "process": 0.0, "thread": 0.0}
    try:
        for _ in range(args.rounds):  # interleaved rounds, best of each: the machine is shared
            best["bare"] = max(best["bare"], bare_loop_steps_per_s(entry.local, batch, args.steps))
            for name, arm in arms.items():
                best[name] = max(best[name], arm.steps_per_s(args.steps))
    finally:
        for arm in arms.values():
            arm.close()
    bare = best["bare"]
    print(f"bare torch loop      {bare:8.2f} steps/s")
    print(f"client -> process    {best['process']:8.2f} steps/s   ratio {bare / best['process']:.3f}x "
          "(target <= 1.10x)")
    print(f"client -> thread     {best['thread']:8.2f} steps/s   ratio {bare / best['thread']:.3f}x "
          "(target <= 1.03x)")


if __name__ == "__main__":
    main()
