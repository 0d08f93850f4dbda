"""Checkpoint and step cost of TrainerEngine against plain torch, measured in the same run.

    .venv/bin/python benchmarks/bench_checkpoints.py [--model qwen3-8b] [--reps 20]

Prints: save_state + load_state time vs torch.save + torch.load (+ load_state_dict) of the
same state (target <= 1.5x; the engine also fsyncs and commits a manifest), and engine
forward_backward + optim_step steps/s vs a bare torch loop (`_baseline.bare_loop_steps_per_s`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import bare_loop_steps_per_s

from drydock.emulator import default_catalog
from drydock.trainer import TrainerEngine, make_example

ADAM = {"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.95, "eps": 1e-12, "weight_decay": 0.0,
        "grad_clip_norm": 1.0}


def _batch(vocab: int, n: int = 8, length: int = 64) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [make_example(torch.randint(0, vocab, (length + 1,), generator=g).tolist())
            for _ in range(n)]


def _median_ms(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen3-8b")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lora-rank", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both sides)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = default_catalog().model(f"accounts/fireworks/models/{args.model}").local
    batch = _batch(cfg.vocab_size)
    with tempfile.TemporaryDirectory() as tmp:
        eng = TrainerEngine(cfg, checkpoint_dir=Path(tmp) / "ckpt", lora_rank=args.lora_rank)
        eng.forward_backward(batch, "cross_entropy")
        eng.optim_step(ADAM)

        # Checkpoints: engine (atomic, fsynced, manifest) vs plain torch.save/torch.load.
        plain = Path(tmp) / "plain.pt"

        def plain_save() -> None:
            torch.save({"model": eng.model.state_dict(), "optimizer": eng.optimizer.state_dict(),
                        "rng": {"torch": torch.get_rng_state()}}, plain)

        def plain_load() -> None:
            state = torch.load(plain, map_location=eng.device, weights_only=True)
            eng.model.load_state_dict(state["model"])
            eng.optimizer.load_state_dict(state["optimizer"])

        def plain_save_fsync() -> None:   # the same, made durable: what a crash-safe save costs
            with open(plain, "wb") as f:
                torch.save({"model": eng.model.state_dict(),
                            "optimizer": eng.optimizer.state_dict(),
                            "rng": {"torch": torch.get_rng_state()}}, f)
                f.flush()
                os.fsync(f.fileno())

        names = iter(range(10**9))
        eng_save = _median_ms(lambda: eng.save_state(f"bench-{next(names) % 3}"), args.reps)
        eng_load = _median_ms(lambda: eng.load_state("bench-0", optimizer=True), args.reps)
        base_save = _median_ms(plain_save, args.reps)
        base_load = _median_ms(plain_load, args.reps)
        base_save_fsync = _median_ms(plain_save_fsync, args.reps)
        size_mb = os.path.getsize(plain) / 2**20

        # Steps/s: engine in-process (wire dicts parsed every step) vs a bare torch loop.
        def engine_step() -> None:
            eng.forward_backward(batch, "cross_entropy")
            eng.optim_step(ADAM)

        for _ in range(2):
            engine_step()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            engine_step()
        if eng.device.type == "cuda":
            torch.cuda.synchronize()
        eng_sps = args.steps / (time.perf_counter() - t0)
        bare_sps = bare_loop_steps_per_s(cfg, batch, args.steps, lora_rank=args.lora_rank)

    ratio = (eng_save + eng_load) / (base_save + base_load)
    print(f"model {args.model}: {cfg.model_dump()} lora_rank={args.lora_rank} device={eng.device} "
          f"threads={args.threads} state {size_mb:.2f} MiB")
    print(f"save  engine {eng_save:7.2f} ms   torch.save {base_save:7.2f} ms   "
          f"ratio {eng_save / base_save:.2f}x (the engine fsyncs and commits a manifest)")
    print(f"load  engine {eng_load:7.2f} ms   torch.load {base_load:7.2f} ms   "
          f"ratio {eng_load / base_load:.2f}x")
    print(f"save+load ratio engine/plain = {ratio:.2f}x (target <= 1.5x)")
    print(f"torch.save + fsync {base_save_fsync:7.2f} ms: engine save / durable plain save = "
          f"{eng_save / base_save_fsync:.2f}x (the rest: temp dir, rename, manifest commit, "
          "removing the replaced checkpoint)")
    print(f"steps/s engine {eng_sps:7.1f}   bare torch loop {bare_sps:7.1f}   "
          f"ratio bare/engine = {bare_sps / eng_sps:.2f}x")


if __name__ == "__main__":
    main()
