"""Checkpoint atomicity, naming, replacement, cleanup, GC and cross-job loads."""

from __future__ import annotations

import json
import os

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import (
    CheckpointStore,
    CheckpointWriteError,
    TrainerEngine,
    TrainerUserError,
    make_example,
)
from drydock.trainer import checkpoints as ckpt_mod
from drydock.trainer.checkpoints import load_payload

CFG = LocalModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_seq_len=16)
ADAM = {"learning_rate": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
        "grad_clip_norm": 0.0}
DATA = [make_example([1, 2, 3, 4, 5, 6]), make_example([7, 8, 9, 10])]


def _engine(root, **kw) -> TrainerEngine:
    return TrainerEngine(CFG, checkpoint_dir=root, device="cpu", **kw)


def _train(eng: TrainerEngine, n: int = 1) -> None:
    for _ in range(n):
        eng.forward_backward(DATA, "cross_entropy")
        eng.optim_step(ADAM, "num_loss_tokens")


def _weights(eng: TrainerEngine) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in eng.model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_save_load_roundtrip_with_data_position(tmp_path) -> None:
    eng = _engine(tmp_path)
    _train(eng, 2)
    saved = eng.save_state("step-2", {"epoch": 0, "index": 8})
    assert saved.kind == "TRAINING" and os.path.isdir(saved.path) and saved.name == "step-2"
    w = _weights(eng)
    _train(eng, 2)
    meta = eng.load_state("step-2", optimizer=True)
    assert meta == {"name": "step-2", "step": 2, "data_position": {"epoch": 0, "index": 8}}
    assert eng.step == 2 and _same(w, _weights(eng))
    assert eng.list_checkpoints() == ["step-2"]


def test_fail_midway_leaves_previous_checkpoint_intact(tmp_path) -> None:
    eng = _engine(tmp_path)
    _train(eng)
    eng.save_state("good", {"i": 1})
    manifest = (tmp_path / "manifest.json").read_bytes()
    w = _weights(eng)
    _train(eng)
    for call in (lambda: eng.save_state("good", {"i": 2}, fail_midway=True),
                 lambda: eng.save_state("bad", fail_midway=True),
                 lambda: eng.save_for_sampler("samp-00000000", fail_midway=True)):
        with pytest.raises(CheckpointWriteError):
            call()
    assert (tmp_path / "manifest.json").read_bytes() == manifest
    assert eng.list_checkpoints() == ["good"]
    fresh = _engine(tmp_path, seed=7)
    assert fresh.restore_latest() == "good"
    assert fresh.step == 1 and _same(w, _weights(fresh))
    # The engine that failed keeps working and saves fine afterwards.
    _train(eng)
    eng.save_state("after")
    assert eng.list_checkpoints() == ["after", "good"]


def test_resave_replaces_atomically_and_removes_old_dir(tmp_path) -> None:
    eng = _engine(tmp_path)
    first = eng.save_state("ckpt")
    _train(eng)
    second = eng.save_state("ckpt", {"i": 1})
    assert first.path != second.path and not os.path.exists(first.path)
    assert eng.list_checkpoints() == ["ckpt"]
    assert eng.load_state("ckpt", optimizer=False)["step"] == 1


def test_readers_trust_only_the_manifest_and_open_cleans_debris(tmp_path) -> None:
    eng = _engine(tmp_path)
    eng.save_state("kept")
    # Debris of killed writes: a temp dir, a renamed-but-uncommitted dir, a stray manifest.tmp.
    (tmp_path / ".tmp-00000009-deadbeef").mkdir()
    (tmp_path / ".tmp-00000009-deadbeef" / "checkpoint.pt").write_bytes(b"partial")
    (tmp_path / "00000009.cafef00d.ghost").mkdir()
    (tmp_path / "manifest.json.tmp").write_text("{")
    assert eng.list_checkpoints() == ["kept"]
    reader = CheckpointStore(tmp_path, writable=False)   # another job's reader: no cleanup
    assert [e.name for e in reader.entries()] == ["kept"]
    assert (tmp_path / "00000009.cafef00d.ghost").exists()
    _engine(tmp_path)                                       # the owner reopening: cleanup
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and "manifest.json" in left and left[0].endswith(".kept")


def test_gc_keeps_last_n_and_never_the_newest(tmp_path) -> None:
    eng = _engine(tmp_path, keep_last=2)
    for i in range(5):
        _train(eng)
        eng.save_state(f"step-{i}")
    eng.save_for_sampler("samp-1")
    assert eng.list_checkpoints() == ["step-3", "step-4"]
    dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(dirs) == 3   # two state checkpoints + the sampler save (never GC'd)
    # Re-saving an older name makes it the newest; the other old one goes.
    eng.save_state("step-3")
    assert eng.list_checkpoints() == ["step-3", "step-4"]
    eng.save_state("step-9")
    assert eng.list_checkpoints() == ["step-3", "step-9"]
    assert _engine(tmp_path, seed=3).restore_latest() == "step-9"
    with pytest.raises(ValueError):
        CheckpointStore(tmp_path / "x", keep_last=0)


@pytest.mark.parametrize("name", ["Step-1", "step_1", "-a", "a" * 64, "", "x/y"])
def test_names_must_be_dns_labels(tmp_path, name) -> None:
    eng = _engine(tmp_path)
    with pytest.raises(TrainerUserError):
        eng.save_state(name)
    with pytest.raises(TrainerUserError):
        eng.save_for_sampler(name)


@pytest.mark.parametrize("ref", ["missing", "tinker://run/weights/x", "/abs/path",
                                 "acct/run-0123456789abcdef0123456789abcdef/x",
                                 "cross_job://other-job/ckpt", "samp-1"])
def test_unknown_or_unsupported_refs(tmp_path, ref) -> None:
    eng = _engine(tmp_path)
    eng.save_for_sampler("samp-1")   # sampler saves are not loadable with load_state
    with pytest.raises(TrainerUserError):
        eng.load_state(ref, optimizer=True)


def test_cross_job_load(tmp_path) -> None:
    src = _engine(tmp_path / "job-a")
    _train(src, 2)
    src.save_state("step-2", {"i": 4})
    w = _weights(src)
    dirs = {"job-a": tmp_path / "job-a"}

    def lookup(job: str):
        if job == "other-account-job":
            raise PermissionError("job belongs to another account")
        return dirs[job]

    dst = _engine(tmp_path / "job-b", cross_job_dirs=lookup)
    meta = dst.load_state("cross_job://job-a/step-2", optimizer=True)
    assert meta["data_position"] == {"i": 4} and dst.step == 2 and _same(w, _weights(dst))
    for ref in ("cross_job://nope/step-2", "cross_job://other-account-job/step-2",
                "cross_job://job-a/missing"):
        with pytest.raises(TrainerUserError):
            dst.load_state(ref, optimizer=False)
    lora = _engine(tmp_path / "job-c", cross_job_dirs=lookup, lora_rank=2)
    with pytest.raises(TrainerUserError, match="LoRA rank"):
        lora.load_state("cross_job://job-a/step-2", optimizer=True)


def test_load_without_optimizer_resets_optimizer_state(tmp_path) -> None:
    eng = _engine(tmp_path)
    _train(eng, 2)
    eng.save_state("s")
    eng.load_state("s", optimizer=False)
    assert not eng.optimizer.state
    eng.load_state("s", optimizer=True)
    assert eng.optimizer.state and all(int(s["step"]) == 2 for s in eng.optimizer.state.values())


def test_lora_and_sampler_kinds(tmp_path) -> None:
    eng = _engine(tmp_path, lora_rank=2)
    assert eng.save_state("s").kind == "TRAINING_LORA"
    assert eng.save_for_sampler("a").kind == "INFERENCE_LORA"
    merged = eng.save_for_sampler("b", "merged_base")
    assert merged.kind == "INFERENCE_BASE"
    payload = load_payload(merged.path)
    assert not any("lora_" in k for k in payload["model"])
    assert payload["meta"]["checkpoint_type"] == "merged_base" and payload["meta"]["lora_rank"] == 0
    with pytest.raises(TrainerUserError):
        eng.save_for_sampler("c", "full")
    assert eng.list_checkpoints() == ["s"]


def test_write_phases_in_order(tmp_path) -> None:
    eng = _engine(tmp_path)
    phases: list[str] = []
    ckpt_mod.set_write_hook(phases.append)
    try:
        eng.save_state("s")
    finally:
        ckpt_mod.set_write_hook(None)
    assert phases == ["wrote", "renamed", "manifest-written", "committed"]
    rows = json.loads((tmp_path / "manifest.json").read_text())["checkpoints"]
    assert [r["name"] for r in rows] == ["s"]
