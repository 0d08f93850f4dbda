"""Two runs (two training clients, e.g. a policy and a reference) in ONE serverless session,
driven by the real fireworks-ai 1.2.28 client, save the same names: each run's checkpoints are
its own (stored as `<run>.<name>`), so nothing is overwritten. Both list, each resumes, loads,
samples and promotes to its own weights, in the session, in another session of the account and
after a durable restart.

Training futures run on thread workers; the emulator's clock only moves when a test moves it
(nothing here sleeps)."""

from __future__ import annotations

import httpx
import pytest
import torch

fw = pytest.importorskip("fireworks.training.sdk")
from _serverless_support import close_services, service  # noqa: E402, F401
from fireworks.training.sdk.fireworks_client import FireworksClient  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402
from drydock.trainer.checkpoints import load_payload  # noqa: E402

BASE = "accounts/fireworks/models/qwen3-0p6b"
KEY = "drydock-local-key"
SEQS = [[1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16]]
ADAM = fw.AdamParams(learning_rate=0.02, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)
PROMPT = [1, 2, 3, 4, 5]


def batch() -> list:
    return [
        fw.Datum(
            model_input=fw.ModelInput.from_ints(s[:-1]), loss_fn_inputs={"target_tokens": s[1:]}
        )
        for s in SEQS
    ]


def train(tc, steps: int) -> None:
    for _ in range(steps):
        tc.forward_backward(batch(), "cross_entropy").result(timeout=60)
        tc.optim_step(ADAM).result(timeout=60)


def fwd_loss(tc) -> float:
    return tc.forward(batch(), "cross_entropy").result(timeout=60).metrics["loss:sum"]


def prompt_logprobs(tc) -> list[float]:
    d = fw.Datum(
        model_input=fw.ModelInput.from_ints(PROMPT[:-1]),
        loss_fn_inputs={"target_tokens": PROMPT[1:]},
    )
    return list(
        tc.forward([d], "cross_entropy").result(timeout=60).loss_fn_outputs[0]["logprobs"].data
    )


def two_runs(svc) -> tuple:
    """A policy trained 3 steps and a reference trained 1, both in `svc`'s session."""
    policy = svc.create_training_client(base_model=BASE, seed=1)
    ref = svc.create_training_client(base_model=BASE, seed=2)
    assert policy.run_id != ref.run_id
    train(policy, 3)
    train(ref, 1)
    return policy, ref


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=23, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        yield emu, server


def test_two_runs_saving_one_name_keep_two_checkpoints(served):
    emu, server = served
    fc = FireworksClient(api_key=KEY, base_url=server.url)
    svc = service(server)
    name = svc.training_session_name
    policy, ref = two_runs(svc)
    loss_p, loss_r = fwd_loss(policy), fwd_loss(ref)
    assert loss_p < loss_r  # different weights: the policy trained longer
    p_state = policy.save_state("step-2").result(timeout=60).path
    r_state = ref.save_state("step-2").result(timeout=60).path
    assert (p_state, r_state) == (f"drydock/{policy.run_id}/step-2", f"drydock/{ref.run_id}/step-2")
    # The SDK suffixes sampler names with the client's `session_id`; a program that pins it
    # (one suffix for its runs) sends the same sampler name from both runs.
    ref.session_id = policy.session_id
    p_snap = policy.save_weights_for_sampler_ext("sampler")
    r_snap = ref.save_weights_for_sampler_ext("sampler")
    assert p_snap.snapshot_name == r_snap.snapshot_name
    assert p_snap.path != r_snap.path

    # listed: one row per (run, name), each with its run's path and a promotable id
    rows = fc.list_training_session_checkpoints(name)
    assert len(rows) == 4
    by_path = {r["checkpointPath"]: r for r in rows}
    assert set(by_path) == {p_state, r_state, p_snap.path, r_snap.path}
    for run, path in ((policy.run_id, p_state), (ref.run_id, r_state)):
        assert by_path[path]["name"] == f"{name}/checkpoints/{run}.step-2"
        assert by_path[path]["checkpointType"] == "CHECKPOINT_TYPE_TRAINING"
    rows_of_job = emu.control_plane.list_checkpoints("drydock", svc.training_session_id)
    locations = {r.location for r in rows_of_job}
    assert len(locations) == 4  # four checkpoint directories: none overwrote another

    # each samples its own weights (the path the save returned names its run's checkpoint)
    for tc, snap in ((policy, p_snap), (ref, r_snap)):
        sc = svc.create_sampling_client(model_path=snap.path)
        resp = sc.sample(
            fw.ModelInput.from_ints(PROMPT),
            1,
            fw.SamplingParams(max_tokens=1, seed=3),
            include_prompt_logprobs=True,
        ).result(timeout=60)
        assert resp.prompt_logprobs[1:] == prompt_logprobs(tc)

    # each promotes to its own model, with its own weights
    models = {}
    for tc, snap, out in ((policy, p_snap, "sl-runs-policy"), (ref, r_snap, "sl-runs-ref")):
        row = by_path[snap.path]
        assert row["promotable"] and row["name"].endswith(f"/{tc.run_id}.{snap.snapshot_name}")
        model = fc.promote_session_checkpoint(row["name"], out, BASE)
        rec = emu.control_plane.models[model["name"]]
        assert rec.source_checkpoint == f"{tc.run_id}.{snap.snapshot_name}"
        models[tc.run_id] = load_payload(rec.location)["model"]
    pw, rw = models[policy.run_id], models[ref.run_id]
    assert any(not torch.equal(pw[k], rw[k]) for k in pw)

    # each loads its own state, by path, from either run; a bare name is the caller's own save
    train(policy, 2)
    train(ref, 2)
    policy.load_state(r_state).result(timeout=60)
    assert fwd_loss(policy) == loss_r
    policy.load_state("step-2").result(timeout=60)
    assert fwd_loss(policy) == loss_p
    ref.load_state(r_state).result(timeout=60)
    assert fwd_loss(ref) == loss_r
    # a third run's bare name is ambiguous: two runs saved it (the future fails, a user error)
    third = svc.create_training_client(base_model=BASE, seed=3)
    with pytest.raises(fw.RequestFailedError, match="saved by 2 runs.*<account>/<run-id>/step-2"):
        third.load_state("step-2").result(timeout=60)
    third.load_state(p_state).result(timeout=60)
    assert fwd_loss(third) == loss_p

    # another session of the account resumes each run from its own checkpoint
    svc2 = service(server)
    resumed = svc2.create_training_client_from_state_with_optimizer(p_state)
    assert fwd_loss(resumed) == loss_p
    other = svc2.create_training_client(base_model=BASE, seed=9)
    other.load_state_with_optimizer(r_state).result(timeout=60)
    assert fwd_loss(other) == loss_r
    sc = svc2.create_sampling_client(model_path=r_snap.path)  # the first session's sampler save
    resp = sc.sample(
        fw.ModelInput.from_ints(PROMPT),
        1,
        fw.SamplingParams(max_tokens=1, seed=3),
        include_prompt_logprobs=True,
    ).result(timeout=60)
    assert resp.prompt_logprobs[1:] == prompt_logprobs(ref)
    for s in (svc, svc2):
        s.delete_training_session()
        s.close()


def test_unknown_runs_and_checkpoints_answer_404(served):
    emu, server = served
    svc = service(server)
    tc = svc.create_training_client(base_model=BASE)
    train(tc, 1)
    mine = tc.save_weights_for_sampler_ext("mine")
    name = svc.training_session_name
    nobody = f"run-{'0' * 32}"
    with pytest.raises(fw.RequestFailedError, match="not found"):
        tc.load_state(f"drydock/{nobody}/step-2").result(timeout=60)
    with pytest.raises(Exception, match="not found"):  # weights_info: 404
        service(server).create_training_client_from_state(f"drydock/{nobody}/step-2")
    # this run saved no 'never' (the trainer's own not-found, for a save that never landed)
    with pytest.raises(fw.RequestFailedError, match="never.*not found"):
        tc.load_state(f"drydock/{tc.run_id}/never").result(timeout=60)
    # a save name is a DNS label: a run-scoped id (`<run>.<name>`) is not one a caller may send
    with pytest.raises(fw.RequestFailedError, match="must be a DNS label"):
        tc.save_state(f"{nobody}.step-2").result(timeout=60)
    with httpx.Client(base_url=server.url, headers={"x-api-key": KEY}) as http:
        r = http.post(
            f"/v1/{name}/checkpoints/{nobody}.{mine.snapshot_name}:promote",
            json={"output_model": "accounts/drydock/models/sl-nobody", "base_model": BASE},
        )
        assert r.status_code == 404 and r.json()["code"] == 5
        assert "not found" in r.json()["message"]
        # the save name alone is no checkpoint id of the session
        r = http.post(
            f"/v1/{name}/checkpoints/{mine.snapshot_name}:promote",
            json={"output_model": "accounts/drydock/models/sl-bare", "base_model": BASE},
        )
        assert r.status_code == 404
        r = http.post(
            "/training/v1/serverless/api/v1/weights_info",
            json={"tinker_path": f"drydock/{tc.run_id}/never"},
        )
        assert r.status_code == 404 and r.json()["code"] == 5
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}) as http:
        url = "/training/v1/serverless/inference/v1/completions"
        for ckpt in (f"drydock/{nobody}/{mine.snapshot_name}", f"drydock/{tc.run_id}/nope"):
            r = http.post(
                url, json={"model": f"{name}/checkpoints/{ckpt}", "prompt": PROMPT, "max_tokens": 1}
            )
            assert r.status_code == 404 and "not found" in r.json()["error"]["message"]
        # a list row's id samples too (the bare form the checkpoint list shows)
        r = http.post(
            url,
            json={
                "model": f"{name}/checkpoints/{tc.run_id}.{mine.snapshot_name}",
                "prompt": PROMPT,
                "max_tokens": 1,
            },
        )
        assert r.status_code == 200
    svc.delete_training_session()
    svc.close()


def test_a_durable_restart_keeps_both_runs_checkpoints(tmp_path):
    def emulator() -> Emulator:
        return Emulator(
            seed=4, runtime=thread_runtime(torch_threads=1), data_dir=tmp_path, durable=True
        )

    with emulator() as emu, emu.serve() as server:
        svc = service(server, emu.api_key)
        policy, ref = two_runs(svc)
        losses = {policy.run_id: fwd_loss(policy), ref.run_id: fwd_loss(ref)}
        paths = [tc.save_state("kept").result(timeout=60).path for tc in (policy, ref)]
        name = svc.training_session_name
        svc.close()
    assert losses[policy.run_id] != losses[ref.run_id]
    with emulator() as emu, emu.serve() as server:
        fc = FireworksClient(api_key=emu.api_key, base_url=server.url)
        rows = fc.list_training_session_checkpoints(name)
        assert [r["checkpointPath"] for r in rows] == paths
        assert [r["name"].rsplit("/", 1)[1] for r in rows] == [
            f"{p.split('/')[1]}.kept" for p in paths
        ]
        again = service(server, emu.api_key)
        tc = again.create_training_client_from_state_with_optimizer(paths[1])
        assert fwd_loss(tc) == losses[ref.run_id]
        tc.load_state(paths[0]).result(timeout=60)
        assert fwd_loss(tc) == losses[policy.run_id]
        fc.delete_training_session(name)
        again.delete_training_session()
        again.close()


def test_two_lora_runs_of_other_ranks_each_resume_as_their_own_rank(served):
    emu, server = served
    svc = service(server)
    small = svc.create_training_client(base_model=BASE, lora_rank=4)
    large = svc.create_training_client(base_model=BASE, lora_rank=8)
    train(small, 2)
    train(large, 1)
    losses = {small.run_id: fwd_loss(small), large.run_id: fwd_loss(large)}
    paths = {tc.run_id: tc.save_state("step-2").result(timeout=60).path for tc in (small, large)}
    svc2 = service(server)
    # weights_info answers the run's own rank: the SDK rebuilds a rank-8 client for `large`
    resumed = svc2.create_training_client_from_state(paths[large.run_id])
    assert resumed._lora_rank == 8
    assert fwd_loss(resumed) == losses[large.run_id]
    other = svc2.create_training_client(base_model=BASE, lora_rank=4)
    other.load_state(paths[small.run_id]).result(timeout=60)
    assert fwd_loss(other) == losses[small.run_id]
    # each run's sampler save promotes to an adapter of that run's rank
    fc = FireworksClient(api_key=KEY, base_url=server.url)
    rows = {r["checkpointPath"]: r for r in fc.list_training_session_checkpoints(
        svc.training_session_name)}
    for tc, rank in ((small, 4), (large, 8)):
        snap = tc.save_weights_for_sampler("adapter").result(timeout=60)
        rows = {r["checkpointPath"]: r for r in fc.list_training_session_checkpoints(
            svc.training_session_name)}
        model = fc.promote_session_checkpoint(rows[snap.path]["name"], f"sl-rank-{rank}", BASE)
        rec = emu.control_plane.models[model["name"]]
        assert (rec.kind, rec.lora_rank) == ("HF_PEFT_ADDON", rank)
    for s in (svc, svc2):
        s.delete_training_session()
        s.close()
