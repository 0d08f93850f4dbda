"""drydock.sdk's training client and recovery policy against the real drydock trainer (torch,
in-process worker threads, a tiny model): a run preempted mid-training resumes from its last
checkpoint and ends with the same per-step losses as a run that was never interrupted."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from drydock.emulator import Emulator, FaultPlan, Preempt, default_catalog
from drydock.emulator.shapes import LocalModelConfig
from drydock.sdk import (
    Datum,
    FutureLostError,
    ResilientTrainingLoop,
    TrainerJobConfig,
    TrainerJobManager,
    TrainingClient,
)
from drydock.trainer import thread_runtime

BASE = "accounts/fireworks/models/qwen3-0p6b"


def tiny_emulator() -> Emulator:
    cat = default_catalog()
    for m in cat.models:
        m.local = LocalModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                                   max_seq_len=32)
    return Emulator(seed=0, catalog=cat, runtime=thread_runtime(grace_s=0.1))


def batch(step: int) -> list[Datum]:
    return [Datum.from_tokens([(step * 7 + i * 3 + k) % 64 for k in range(6)]) for i in range(2)]


def sft_step(client: TrainingClient, step: int) -> float:
    out = client.forward_backward(batch(step))
    client.optim_step(learning_rate=0.02)
    return out.loss


def run(preempt_at_step: int | None) -> tuple[dict, ResilientTrainingLoop, Emulator]:
    emu = tiny_emulator()
    mgr = TrainerJobManager.for_emulator(emu)
    mgr.create_and_wait(TrainerJobConfig(base_model=BASE, requested_job_id="sft"))
    if preempt_at_step:
        emu.inject(FaultPlan.of(Preempt(job="sft", at_step=preempt_at_step)))
    loop = ResilientTrainingLoop(mgr, "sft", base_model=BASE)
    report = loop.train(5, sft_step, checkpoint_every=2)
    loop.close()
    return report.losses, loop, emu


def test_preempted_run_recovers_and_matches_the_uninterrupted_one():
    clean, _, emu1 = run(None)
    emu1.close()
    losses, loop, emu = run(preempt_at_step=3)
    try:
        assert loop.report.recoveries == 1 and loop.report.restored_from == ["step-2"]
        assert loop.report.checkpoints == ["step-2", "step-4", "step-5"]
        assert len(emu.events.filter("job.resume", "sft")) == 1
        assert sorted(losses) == [0, 1, 2, 3, 4]
        assert losses == pytest.approx(clean, rel=0, abs=0)  # bit-identical on CPU
        names = [r.checkpoint_id for r in loop.manager.list_checkpoints("sft")]
        assert names[-1] == "step-5"
    finally:
        emu.close()


def test_old_client_after_preemption_sees_a_lost_future():
    emu = tiny_emulator()
    try:
        mgr = TrainerJobManager.for_emulator(emu)
        ep = mgr.create_and_wait(TrainerJobConfig(base_model=BASE, requested_job_id="j"))
        client = TrainingClient.for_emulator(emu, ep, base_model=BASE)
        emu.inject(FaultPlan.of(Preempt(job="j", at_step=1)))
        client.forward_backward(batch(0))
        with pytest.raises(FutureLostError):
            client.optim_step()
        assert mgr.get("j").state == "JOB_STATE_FAILED"
    finally:
        emu.close()
