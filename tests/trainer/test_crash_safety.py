"""Crash safety: a process saving checkpoints in a loop is SIGKILLed at seeded-random points of
its writes; after every kill the newest committed checkpoint loads, nothing partial is listed, and
training resumed from it continues the same deterministic trajectory.

Each trial's saver picks, from its seed, which save dies and where: N bytes into the payload or
the manifest file, or between the write steps (after the payload is synced, after the rename,
after the new manifest is written, after the commit). It then SIGKILLs itself exactly there, so
no test waits on wall time and every kill lands where it was aimed. The savers are forked from a
forkserver that has already imported torch, so a trial costs tens of milliseconds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time

import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import CheckpointStore, TrainerEngine, make_example
from drydock.trainer import checkpoints as ckpt_mod
from drydock.trainer.checkpoints import STATE_KINDS

TINY = LocalModelConfig(vocab_size=16, d_model=8, n_layers=1, n_heads=1, d_ff=16, max_seq_len=8)
ADAM = {"learning_rate": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
        "grad_clip_norm": 0.0}
TRIALS = 50


def _data(step: int) -> list[dict]:
    return [make_example([(step + t) % 16 for t in range(6)])]


def _train_one(eng: TrainerEngine) -> None:
    eng.forward_backward(_data(eng.step), "cross_entropy")
    eng.optim_step(ADAM, "num_loss_tokens")


def _engine(root, **kw) -> TrainerEngine:
    return TrainerEngine(TINY, checkpoint_dir=root, device="cpu", seed=0, keep_last=3, **kw)


KILL_POINTS = ("payload", "manifest", "wrote", "renamed", "manifest-written", "committed")


class _DyingFile:
    """A file that SIGKILLs its process once `budget` bytes have gone through it."""

    def __init__(self, f, budget: int) -> None:
        self._f, self._left = f, budget

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) >= self._left:
            self._f.write(data[: self._left])
            self._f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


def _saver(root: str, seed: int, threads: int, ready) -> None:
    """Child: resume from the newest checkpoint, then train and save until its planned death."""
    torch.set_num_threads(threads)   # same as the parent: CPU float reductions depend on it
    rng = random.Random(seed)
    doomed, point = rng.randrange(3), rng.choice(KILL_POINTS)
    budget = rng.randrange(1, 4096 if point == "payload" else 256)
    committed = 0

    def die_at(phase: str) -> None:
        nonlocal committed
        # A mid-file kill whose file was shorter than its budget dies right after that file.
        aimed = {"payload": "wrote", "manifest": "manifest-written"}.get(point, point)
        if committed == doomed and phase == aimed:
            os.kill(os.getpid(), signal.SIGKILL)
        committed += phase == "committed"

    real_write_file = ckpt_mod._write_file

    def write_file(path, writer) -> None:
        target = "manifest" if path.name.startswith("manifest") else "payload"
        if committed == doomed and point == target:
            return real_write_file(path, lambda f: writer(_DyingFile(f, budget)))
        return real_write_file(path, writer)

    ckpt_mod._write_file = write_file
    ckpt_mod.set_write_hook(die_at)
    eng = _engine(root)
    eng.restore_latest()
    resumed_at = eng.step
    _train_one(eng)
    ready.send(resumed_at)
    while True:
        # Cycling names: re-saves replace, keep_last=3 garbage-collects.
        eng.save_state(f"step-mod-{eng.step % 5}", {"step": eng.step})
        _train_one(eng)


def _debris(root) -> bool:
    live = {e.dir for e in CheckpointStore(root, writable=False).entries()}
    return any(p.name not in live and p.name != "manifest.json" for p in root.iterdir())


def test_sigkill_at_seeded_points_of_writes_never_loses_the_committed_checkpoint(tmp_path) -> None:
    ctx = mp.get_context("forkserver")
    # The preload pays torch's lazy initialisation once; each forked saver starts at once.
    ctx.set_forkserver_preload(["drydock.trainer._preload", __name__])
    root = tmp_path / "ckpt"
    first = _engine(root)
    first.save_state("step-mod-0", {"step": 0})
    ref = _engine(tmp_path / "ref")          # the uninterrupted trajectory, advanced lazily
    newest_seq, mid_write, start = 0, 0, time.monotonic()
    for trial in range(TRIALS):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_saver, daemon=True,
                           args=(str(root), trial, torch.get_num_threads(), child))
        proc.start()
        proc.join(120 if trial == 0 else 60)      # it kills itself; 0 pays the forkserver boot
        assert proc.exitcode == -signal.SIGKILL, "the saver did not die where it was aimed"
        assert parent.poll(0), "the saver died before it was ready"
        resumed_at = parent.recv()
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
                                                     ref.model.state_dict().values(), strict=False))
    assert mid_write > 0, "no kill landed inside a write"
    print(f"{TRIALS} kills ({mid_write} inside a write) in {time.monotonic() - start:.1f}s, "
          f"final step {ref.step}")
