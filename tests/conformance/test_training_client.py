"""The real fireworks-ai 1.2.28 training client (FiretitanServiceClient / FiretitanTrainingClient)
trains against drydock's torch runtime over loopback HTTP.

Connecting uses the real `TrainerJobManager` under `virtual_time`, so provisioning (30 virtual
seconds) and the SDK's 5 s polls cost no wall time; the training futures run in real time on the
worker (thread mode here; the preemption test also runs in process mode).
"""

from __future__ import annotations

import math
import warnings

import pytest

fw = pytest.importorskip("fireworks.training.sdk")
from fireworks.training.sdk import trainer as fw_trainer  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.emulator.faults import Preempt  # noqa: E402
from drydock.testing import virtual_time  # noqa: E402
from drydock.trainer import TorchRuntime, thread_runtime  # noqa: E402

BASE = "accounts/fireworks/models/qwen3-0p6b"
OTHER_ACCOUNT, OTHER_KEY = "rival", "rival-key"

# A small fixed dataset: next-token prediction on four short sequences.
SEQS = [[1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16], [21, 22, 23, 24, 25, 26, 27],
        [31, 32, 33, 34, 35]]


def datum(tokens: list[int], **extra) -> fw.Datum:
    inputs = {"target_tokens": tokens[1:], **extra}
    return fw.Datum(model_input=fw.ModelInput.from_ints(tokens[:-1]), loss_fn_inputs=inputs)


def sft_batch() -> list:
    return [datum(s, weights=[1.0] * (len(s) - 1)) for s in SEQS]


ADAM = fw.AdamParams(learning_rate=0.02, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


def _make_emulator(runtime: TorchRuntime) -> Emulator:
    return Emulator(seed=3, runtime=runtime, accounts={"drydock": "drydock-local-key",
                                                       OTHER_ACCOUNT: OTHER_KEY})


@pytest.fixture(scope="module")
def served():
    emu = _make_emulator(thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        yield emu, server


class Session:
    """A connected client: manager, endpoint, service client, training client."""

    def __init__(self, emu: Emulator, server, job_id: str, *, create: bool = True,
                 api_key: str = "drydock-local-key", reconnect: bool = False, **cfg) -> None:
        self.mgr = fw_trainer.TrainerJobManager(api_key=api_key, base_url=server.url)
        with virtual_time(emu):
            if create:  # the real create_and_wait, with a stable job id
                config = fw_trainer.TrainerJobConfig(base_model=BASE, requested_job_id=job_id,
                                                     **cfg)
                self.endpoint = self.mgr.create_and_wait(config)
            elif reconnect:
                self.endpoint = self.mgr.reconnect_and_wait(job_id)
            else:
                self.endpoint = self.mgr.wait_for_existing(job_id)
        self.service = fw.FiretitanServiceClient(base_url=self.endpoint.base_url, api_key=api_key)
        self.tc = self.service.create_training_client(base_model=BASE,
                                                      lora_rank=cfg.get("lora_rank", 0))

    def close(self) -> None:
        self.service.close()


def fb_loss(tc, data=None, loss_fn="cross_entropy", cfg=None) -> float:
    out = tc.forward_backward(data or sft_batch(), loss_fn, cfg).result(timeout=60)
    return out.metrics["loss:sum"]


def fwd_loss(tc, data=None) -> float:
    return tc.forward(data or sft_batch(), "cross_entropy").result(timeout=60).metrics["loss:sum"]


# ------------------------------------------------------------------------------- the tests
def test_sft_loop_loss_decreases_over_20_steps(served):
    emu, server = served
    s = Session(emu, server, "sft-loop")
    try:
        first = s.tc.forward(sft_batch(), "cross_entropy").result(timeout=60)
        assert [len(o["logprobs"].data) for o in first.loss_fn_outputs] == [len(x) - 1 for x in SEQS]
        assert all(v <= 0 for o in first.loss_fn_outputs for v in o["logprobs"].data)
        losses = []
        for _ in range(20):
            losses.append(fb_loss(s.tc))
            step = s.tc.optim_step(ADAM).result(timeout=60)
            assert math.isfinite(step.metrics["grad_norm:mean"])
        assert losses[0] == pytest.approx(first.metrics["loss:sum"], rel=1e-5)
        assert losses[-1] < 0.5 * losses[0]
        assert all(b < a for a, b in zip(losses[:5], losses[1:6], strict=False))
        job = emu.control_plane.jobs[("drydock", "sft-loop")]
        assert job.steps == 20  # each optim_step reported to the control plane
    finally:
        s.close()


def test_rl_losses_importance_sampling_and_ppo(served):
    emu, server = served
    s = Session(emu, server, "rl-losses")
    try:
        base = s.tc.forward(sft_batch(), "cross_entropy").result(timeout=60)
        rl = []
        for seq, out in zip(SEQS, base.loss_fn_outputs, strict=False):
            n = len(seq) - 1
            rl.append(datum(seq, logprobs=list(out["logprobs"].data), advantages=[1.0] * n))
        # on-policy: ratio 1, so the IS loss is -sum(advantages)
        is_out = s.tc.forward_backward(rl, "importance_sampling").result(timeout=60)
        assert is_out.metrics["loss:sum"] == pytest.approx(-sum(len(x) - 1 for x in SEQS), rel=1e-4)
        s.tc.optim_step(ADAM).result(timeout=60)
        ppo = s.tc.forward_backward(rl, "ppo", {"clip_low_threshold": 0.8,
                                                "clip_high_threshold": 1.2}).result(timeout=60)
        # after a step that raised these tokens' logprobs, the clipped PPO objective is capped
        assert ppo.metrics["loss:sum"] >= -1.2 * sum(len(x) - 1 for x in SEQS) - 1e-3
        assert ppo.metrics["loss:sum"] < is_out.metrics["loss:sum"] + 1e-6
        s.tc.optim_step(ADAM).result(timeout=60)
    finally:
        s.close()


def test_save_load_state_and_sampler_checkpoints(served):
    emu, server = served
    s = Session(emu, server, "ckpts")
    try:
        fb_loss(s.tc)
        s.tc.optim_step(ADAM).result(timeout=60)
        saved = s.tc.save_state("step-1").result(timeout=60)
        assert saved.path == "step-1"
        at_save = fwd_loss(s.tc)
        sampler = s.tc.save_weights_for_sampler_ext("policy")
        for _ in range(3):
            fb_loss(s.tc)
            s.tc.optim_step(ADAM).result(timeout=60)
        assert fwd_loss(s.tc) < at_save
        assert s.tc.list_checkpoints() == ["step-1"]
        rows = {r.name: r for r in emu.control_plane.list_checkpoints("drydock", "ckpts")}
        assert rows["step-1"].kind == "TRAINING" and not rows["step-1"].promotable
        sampler_name = sampler.snapshot_name if hasattr(sampler, "snapshot_name") else sampler.path
        assert rows[sampler_name].kind == "INFERENCE_BASE" and rows[sampler_name].promotable
        s.tc.load_state("step-1").result(timeout=60)
        assert fwd_loss(s.tc) == pytest.approx(at_save, rel=1e-6)
        fb_loss(s.tc)
        s.tc.optim_step(ADAM).result(timeout=60)
        s.tc.load_state_with_optimizer("step-1").result(timeout=60)
        assert fwd_loss(s.tc) == pytest.approx(at_save, rel=1e-6)
    finally:
        s.close()


def test_bad_input_is_a_clear_error_and_the_worker_stays_healthy(served):
    emu, server = served
    s = Session(emu, server, "bad-input")
    other = Session(emu, server, "rival-job", api_key=OTHER_KEY)
    try:
        other.tc.save_state("theirs").result(timeout=60)
        bad_shape = fw.Datum(model_input=fw.ModelInput.from_ints([1, 2, 3]),
                             loss_fn_inputs={"target_tokens": [2, 3, 4, 5, 6]})
        with pytest.raises(fw.RequestFailedError, match="(?i)shape|length|positions"):
            s.tc.forward_backward([bad_shape], "cross_entropy").result(timeout=60)
        out_of_range = datum([1, 2, 10**6])
        with pytest.raises(fw.RequestFailedError, match=r"token ids must be in \[0, 8192\)"):
            s.tc.forward_backward([out_of_range], "cross_entropy").result(timeout=60)
        with pytest.raises(Exception, match="(?i)loss"):
            s.tc.forward_backward(sft_batch(), "no_such_loss").result(timeout=60)
        with pytest.raises(fw.RequestFailedError, match="never-saved.*not found"):
            s.tc.load_state("never-saved").result(timeout=60)
        with pytest.raises(fw.RequestFailedError, match="rival-job"):
            s.tc.load_state("cross_job://rival-job/theirs").result(timeout=60)
        # the trainer is still healthy and trains
        before = fb_loss(s.tc)
        s.tc.optim_step(ADAM).result(timeout=60)
        assert fwd_loss(s.tc) < before
        assert emu.control_plane.trainer_healthy("drydock", "bad-input")
    finally:
        other.close()
        s.close()


def _loop_with_preemption(emu: Emulator, server, job_id: str, steps: int = 10) -> list[float]:
    """A cookbook-style loop: save every 2 steps; on failure reconnect, reload, continue."""
    s = Session(emu, server, job_id)
    losses: dict[int, float] = {}
    step, recoveries = 0, 0
    try:
        while step < steps:
            try:
                losses[step] = fb_loss(s.tc)
                s.tc.optim_step(ADAM).result(timeout=60)
                step += 1
                if step % 2 == 0:
                    s.tc.save_state(f"step-{step}").result(timeout=60)
            except Exception:
                recoveries += 1
                assert recoveries <= 2
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s.close()
                s = Session(emu, server, job_id, create=False, reconnect=True)
                names = s.tc.list_checkpoints()
                latest = max(names, key=lambda n: int(n.split("-")[1]))
                s.tc.load_state_with_optimizer(latest).result(timeout=60)
                step = int(latest.split("-")[1])
    finally:
        s.close()
    assert recoveries == 1
    return [losses[i] for i in range(steps)]


def test_preemption_mid_loop_is_survived(served):
    emu, server = served
    emu.control_plane.inject([Preempt(job="preempted", at_step=5)])
    losses = _loop_with_preemption(emu, server, "preempted")
    job = emu.control_plane.jobs[("drydock", "preempted")]
    assert job.preemptions == 1 and job.resumes == 1 and job.state.value == "RUNNING"
    assert losses[-1] < losses[0]
    kinds = [e.kind for e in emu.events if e.job == "preempted"]
    assert kinds.count("trainer.start") == 2 and "trainer.stop" in kinds


def test_preemption_mid_loop_process_mode():
    """The same loop with real worker processes (SIGTERM, grace, SIGKILL; a fresh process)."""
    emu = _make_emulator(TorchRuntime("process", grace_s=1.0, torch_threads=1))
    with emu, emu.serve() as server:
        emu.control_plane.inject([Preempt(job="proc-job", at_step=3)])
        losses = _loop_with_preemption(emu, server, "proc-job", steps=6)
        assert losses[-1] < losses[0]
        job = emu.control_plane.jobs[("drydock", "proc-job")]
        assert job.preemptions == 1 and job.state.value == "RUNNING"


def test_lora_job_trains_and_saves_lora_checkpoints(served):
    emu, server = served
    s = Session(emu, server, "lora-job", lora_rank=4)
    try:
        losses = []
        for _ in range(3):
            losses.append(fb_loss(s.tc))
            s.tc.optim_step(ADAM).result(timeout=60)
        assert losses[-1] < losses[0]
        s.tc.save_state("lora-1").result(timeout=60)
        s.tc.save_weights_for_sampler_ext("adapter")
        kinds = {r.kind: r.promotable for r in emu.control_plane.list_checkpoints("drydock", "lora-job")}
        assert kinds == {"TRAINING_LORA": False, "INFERENCE_LORA": True}
    finally:
        s.close()
