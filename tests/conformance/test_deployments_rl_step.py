"""One full RL step with the real fireworks-ai 1.2.28 SDK, low-level path (spec 11): trainer +
`DeploymentManager` + `WeightSyncer` (base, then delta) + `DeploymentSampler` n=4 + train + sync
+ verify: the deployment serves the new snapshot, and its logprobs equal the trainer's forward
logprobs for the same tokens (on CPU, exactly).

Provisioning and the SDK's polls run under `virtual_time` (no wall-clock waits); sampling and
training run in real time on the thread runtime.
"""

from __future__ import annotations

import pytest

fw = pytest.importorskip("fireworks.training.sdk")

from _deployments_support import ADAM, PROMPT, RL  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=11, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        yield emu, server


def test_low_level_rl_step(served) -> None:
    emu, server = served
    rl = RL(emu, server, "policy-1", "rollout-1")
    try:
        assert rl.created.name == f"accounts/{emu.account_id}/deployments/rollout-1"
        assert rl.ready.state == "READY"
        assert rl.status()["current_snapshot_identity"] is None

        step0 = rl.sync("step-0")
        assert step0.startswith("step-0-")
        st = rl.status()
        assert st["current_snapshot_identity"] == step0 and st["readiness"] is True

        # Sample n=4 with logprobs; score: reward = share of even tokens.
        samples = rl.sample()
        assert len(samples) == 4
        for s in samples:
            assert s.full_tokens[:len(PROMPT)] == PROMPT and s.completion_len == 8
            assert s.finish_reason == "length"
            assert len(s.inference_logprobs) == 8 and len(s.sampling_logprobs) == 8
            # At temperature 1 without top-k/top-p the two logprobs agree (to float rounding).
            assert s.sampling_logprobs == pytest.approx(s.inference_logprobs, abs=1e-4)
            # The served logprobs are the trainer's for the served snapshot: exactly (CPU).
            assert rl.trainer_logprobs(s.full_tokens)[-8:] == s.inference_logprobs
        rewards = [sum(t % 2 == 0 for t in s.full_tokens[len(PROMPT):]) / 8 for s in samples]
        mean = sum(rewards) / 4
        data = [fw.Datum(model_input=fw.ModelInput.from_ints(s.full_tokens[:-1]),
                         loss_fn_inputs={
                             "target_tokens": s.full_tokens[1:],
                             "logprobs": [0.0] * (len(PROMPT) - 1) + s.sampling_logprobs,
                             "advantages": [0.0] * (len(PROMPT) - 1) + [r - mean] * 8})
                for s, r in zip(samples, rewards, strict=False)]
        rl.tc.forward_backward(data, "importance_sampling").result(timeout=60)
        rl.tc.optim_step(ADAM).result(timeout=60)

        # Delta sync: the deployment now serves step-1, and its logprobs moved with the weights.
        step1 = rl.sync("step-1")
        st = rl.status()
        assert st["current_snapshot_identity"] == step1 and st["loading_state"]["stage"] == "done"
        events = emu.events.filter("deployment.hot_loaded")
        assert [(e.detail["identity"], e.detail["delta"], e.detail["previous"])
                for e in events[-2:]] == [(step0, False, None), (step1, True, step0)]
        again = rl.sample(seed=3)
        for s in again:
            assert rl.trainer_logprobs(s.full_tokens)[-8:] == s.inference_logprobs
        # The same seed goes to all n requests: a deterministic server gives n equal samples.
        assert len({tuple(s.full_tokens) for s in again}) == 1

        rl.deps.scale_to_zero("rollout-1")
        assert emu.control_plane.get_job(emu.account_id, "deployment:rollout-1").accelerators == 0
        rl.deps.delete("rollout-1")
        assert rl.deps.get("rollout-1") is None
    finally:
        rl.close()


def test_reattach_to_another_trainer_resets_the_chain(served) -> None:
    from fireworks.training.sdk import trainer as fw_trainer

    from drydock.testing import virtual_time

    emu, server = served
    rl = RL(emu, server, "policy-a", "rollout-a")
    other = fw_trainer.TrainerJobManager(api_key=emu.api_key, base_url=server.url)
    try:
        first = rl.sync("a-0")
        with virtual_time(emu):
            ep = other.create_and_wait(fw_trainer.TrainerJobConfig(
                base_model=rl.ready.base_model, requested_job_id="policy-b"))
            info = rl.deps.reattach_trainer("rollout-a", base_model=rl.ready.base_model,
                                            trainer_job_name=ep.job_name, timeout_s=60,
                                            hot_load_transition_type="SYNC")
        assert info.hot_load_trainer_job == ep.job_name and info.state == "READY"
        assert info.hot_load_transition_type == "SYNC"
        # A real reattach rolls the pods: the old trainer's snapshot is no longer served.
        st = rl.status()
        assert st["current_snapshot_identity"] is None and first != st["current_snapshot_identity"]
        # ...and the old trainer's snapshots are out of reach: only policy-b's bucket is read.
        assert rl.deps.hotload("rollout-a", rl.ready.base_model, first) is not None
        assert rl.status()["loading_state"]["stage"] == "error"
    finally:
        other.close()
        rl.close()
