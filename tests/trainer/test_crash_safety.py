"""Crash safety: a process saving checkpoints in a loop is SIGKILLed at random instants; after
every kill the newest committed checkpoint loads, nothing partial is listed, and training resumed
from it continues the same deterministic trajectory.

The saver runs in processes forked from a forkserver that has already imported torch, so a trial
costs tens of milliseconds. The kill delay is seeded-random real time on purpose (killing at a
random instant is the point); a test-only write hook sleeps a little between write steps so kills
land inside writes often.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import signal
import time

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import CheckpointStore, TrainerEngine, make_datum
from drydock.trainer import checkpoints as ckpt_mod
from drydock.trainer.checkpoints import STATE_KINDS

TINY = LocalModelConfig(vocab_size=16, d_model=8, n_layers=1, n_heads=1, d_ff=16, max_seq_len=8)
ADAM = {"learning_rate": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
        "grad_clip_norm": 0.0}
TRIALS = 50


def _data(step: int) -> list[dict]:
    return [make_datum([(step + t) % 16 for t in range(6)])]


def _train_one(eng: TrainerEngine) -> None:
    eng.forward_backward(_data(eng.step), "cross_entropy")
    eng.optim_step(ADAM, "num_loss_tokens")


def _engine(root, **kw) -> TrainerEngine:
    return TrainerEngine(TINY, checkpoint_dir=root, device="cpu", seed=0, keep_last=3, **kw)


def _saver(root: str, seed: int, threads: int, ready) -> None:
    """Child: resume from the newest checkpoint, then train and save forever (until killed)."""
    torch.set_num_threads(threads)   # same as the parent: CPU float reductions depend on it
    rng = random.Random(seed)
    ckpt_mod.set_write_hook(lambda phase: time.sleep(rng.uniform(0, 0.002)))
    eng = _engine(root)
    eng.restore_latest()
    resumed_at = eng.step
    _train_one(eng)          # the first step pays torch's lazy initialisation: before "ready"
    ready.send(resumed_at)
    while True:
        # Cycling names: re-saves replace, keep_last=3 garbage-collects.
        eng.save_state(f"step-mod-{eng.step % 5}", {"step": eng.step})
        _train_one(eng)


def _debris(root) -> bool:
    live = {e.dir for e in CheckpointStore(root, writable=False).entries()}
    return any(p.name not in live and p.name != "manifest.json" for p in root.iterdir())


def test_sigkill_at_random_instants_never_loses_the_committed_checkpoint(tmp_path) -> None:
    ctx = mp.get_context("forkserver")
    # The preload pays torch's lazy initialisation once; each forked saver starts at once.
    ctx.set_forkserver_preload(["drydock.trainer._preload", __name__])
    root = tmp_path / "ckpt"
    first = _engine(root)
    first.save_state("step-mod-0", {"step": 0})
    ref = _engine(tmp_path / "ref")          # the uninterrupted trajectory, advanced lazily
    rnd = random.Random(20261123)
    newest_seq, mid_write, start = 0, 0, time.monotonic()
    for trial in range(TRIALS):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_saver, daemon=True,
                           args=(str(root), trial, torch.get_num_threads(), child))
        proc.start()
        assert parent.poll(120 if trial == 0 else 30), "saver did not start"  # 0: forkserver boot
        resumed_at = parent.recv()
        time.sleep(rnd.uniform(0.0, 0.05))
        proc.kill()
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        mid_write += _debris(root)

        # A reader (no cleanup) sees only complete checkpoints, newest not older than before.
        store = CheckpointStore(root, writable=False)
        entries = store.entries(STATE_KINDS)
        assert 1 <= len(entries) <= 3
        assert entries[-1].seq >= newest_seq and entries[-1].meta["step"] >= resumed_at
        newest_seq = entries[-1].seq
        for e in entries:
            assert e.meta["data_position"] == {"step": e.meta["step"]}
            payload = store.load(e)
            assert payload["meta"]["step"] == e.meta["step"]
            assert bool(payload["optimizer"]["state"]) == (e.meta["step"] > 0)

        # The owner reopening cleans debris and restores the newest, equal to the reference.
        eng = _engine(root)
        assert not _debris(root)
        assert eng.restore_latest() == entries[-1].name
        while ref.step < eng.step:
            _train_one(ref)
        assert eng.step == ref.step
        assert all(torch.equal(a, b) for a, b in zip(eng.model.state_dict().values(),
                                                     ref.model.state_dict().values()))
    assert mid_write > 0, "no kill landed inside a write"
    print(f"{TRIALS} kills ({mid_write} inside a write) in {time.monotonic() - start:.1f}s, "
          f"final step {ref.step}")
