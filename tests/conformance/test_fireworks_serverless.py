"""The real fireworks-ai 1.2.28 client on drydock's serverless trainers: a `FiretitanServiceClient`
on `/training/v1/serverless` (sessions on a shared pool per base model), `trainingSessions`
checkpoints through `FireworksClient`, preemption by a fault and a resume from the session's
newest checkpoint, the pool's queue, and the errors the service answers.

Training futures run in real time on thread workers; the emulator's clock only moves when a test
moves it (nothing here sleeps)."""

from __future__ import annotations

import threading

import httpx
import pytest

fw = pytest.importorskip("fireworks.training.sdk")
from _serverless_support import close_services, service  # noqa: E402, F401
from fireworks.training.sdk.fireworks_client import FireworksClient  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.emulator.faults import Preempt  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402

BASE = "accounts/fireworks/models/qwen3-0p6b"
OTHER_ACCOUNT, OTHER_KEY = "rival", "rival-key"
SEQS = [[1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16], [21, 22, 23, 24, 25, 26, 27]]
ADAM = fw.AdamParams(learning_rate=0.02, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


def sft_batch() -> list:
    # the SDK's own datum helpers: a token prompt/target pair with per-token weights
    return [
        fw.Datum(
            model_input=fw.ModelInput.from_ints(s[:-1]),
            loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)},
        )
        for s in SEQS
    ]


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=11, runtime=thread_runtime(torch_threads=1),
                   accounts={"drydock": "drydock-local-key", OTHER_ACCOUNT: OTHER_KEY})
    with emu, emu.serve() as server:
        yield emu, server


def fb_step(tc) -> float:
    loss = tc.forward_backward(sft_batch(), "cross_entropy").result(timeout=60).metrics["loss:sum"]
    tc.optim_step(ADAM).result(timeout=60)
    return loss


def fwd_loss(tc) -> float:
    return tc.forward(sft_batch(), "cross_entropy").result(timeout=60).metrics["loss:sum"]


def cp_client(emu, server, api_key: str = "drydock-local-key") -> FireworksClient:
    return FireworksClient(api_key=api_key, base_url=server.url)


# ------------------------------------------------------------------------------- the tests
def test_serverless_sft_preempted_resumes_bit_exact_from_its_session_checkpoint(served):
    emu, server = served
    fc = cp_client(emu, server)
    # the uninterrupted reference: 6 steps
    ref = service(server)
    tc = ref.create_training_client(base_model=BASE)
    assert tc.run_id and tc.run_id.startswith("run-") and ref.training_session_id.startswith("ts-")
    ref_losses = [fb_step(tc) for _ in range(6)]
    ref_final = fwd_loss(tc)
    assert ref_losses[-1] < 0.8 * ref_losses[0]
    assert all(b < a for a, b in zip(ref_losses, ref_losses[1:], strict=False))
    ref.delete_training_session()
    ref.close()

    # the same loop, saving state every 2 steps, preempted at its 5th optimizer step
    first = service(server)
    ts = first.training_session_id
    emu.control_plane.inject([Preempt(job=ts, at_step=5)])
    tc = first.create_training_client(base_model=BASE)
    losses, saved = {}, {}
    with pytest.raises(Exception):  # noqa: B017 - the SDK's own error for a lost trainer
        for step in range(6):
            losses[step] = fb_step(tc)
            if (step + 1) % 2 == 0:
                saved[step + 1] = tc.save_state(f"step-{step + 1}").result(timeout=60).path
    job = emu.control_plane.jobs[("drydock", ts)]
    assert job.preemptions == 1 and job.dialect == "fireworks-serverless"
    assert saved[4] == f"drydock/{tc.run_id}/step-4"
    # the newest state checkpoint of the preempted session, as the control plane lists it
    rows = fc.list_training_session_checkpoints(first.training_session_name)
    # one row per (run, name): the checkpoint id is `<run>.<name>`
    assert [r["name"].rsplit("/", 1)[1] for r in rows] == [
        f"{tc.run_id}.step-2", f"{tc.run_id}.step-4"]
    newest = max((r for r in rows if not r["promotable"]), key=lambda r: r["step"])
    assert newest["checkpointPath"] == saved[4] and newest["checkpointType"].endswith("TRAINING")

    # resume in a new session (the SDK keeps one training client per config and service)
    second = service(server)
    tc2 = second.create_training_client_from_state_with_optimizer(newest["checkpointPath"])
    assert tc2.run_id != tc.run_id
    resumed = [fb_step(tc2) for _ in range(2)]
    assert [losses[i] for i in range(4)] == ref_losses[:4]
    assert resumed == ref_losses[4:]  # bit-exact: weights, optimizer, step and RNG came back
    assert fwd_loss(tc2) == ref_final
    kinds = [e.kind for e in emu.events if e.job == ts]
    assert "trainer.stop" in kinds and kinds.count("trainer.start") == 2  # restarted in the pool
    for svc in (first, second):
        svc.delete_training_session()
        svc.close()


def test_checkpoints_list_promote_and_delete_round_trip(served):
    emu, server = served
    fc = cp_client(emu, server)
    svc = service(server)
    name = svc.training_session_name
    assert fc.list_training_session_checkpoints(name) == []  # no model yet: nothing saved
    tc = svc.create_training_client(base_model=BASE)
    fb_step(tc)
    tc.save_state("state-1").result(timeout=60)
    sampler = tc.save_weights_for_sampler_ext("policy")
    rows = {r["checkpointPath"].rsplit("/", 1)[1]: r
            for r in fc.list_training_session_checkpoints(name)}
    snap = sampler.snapshot_name
    assert set(rows) == {"state-1", snap}
    assert rows[snap]["name"] == f"{name}/checkpoints/{tc.run_id}.{snap}"
    assert rows[snap]["promotable"] and rows[snap]["checkpointType"] == "CHECKPOINT_TYPE_INFERENCE_BASE"
    assert not rows["state-1"]["promotable"]
    # paging: one row a page, every row once
    with httpx.Client(base_url=server.url, headers={"x-api-key": "drydock-local-key"}) as http:
        page = http.get(f"/v1/{name}/checkpoints", params={"pageSize": 1}).json()
        assert len(page["trainingSessionCheckpoints"]) == 1 and page["nextPageToken"]
        got = http.get(f"/v1/{name}").json()
        assert got["state"] == "ACTIVE" and got["baseModel"] == BASE
        assert got["runs"] == [f"accounts/drydock/trainingRuns/{tc.run_id}"]

    model = fc.promote_session_checkpoint(rows[snap]["name"], "sl-policy", BASE)
    assert model["name"] == "accounts/drydock/models/sl-policy" and model["kind"] == "CUSTOM_MODEL"
    assert emu.control_plane.models["accounts/drydock/models/sl-policy"].source_job == svc.training_session_id
    with pytest.raises(RuntimeError, match="not promotable"):  # a state checkpoint: 400
        fc.promote_session_checkpoint(rows["state-1"]["name"], "sl-state", BASE)
    with pytest.raises(RuntimeError, match="(?s)404.*no-such.*not found|not found.*no-such"):
        fc.promote_session_checkpoint(f"{name}/checkpoints/no-such", "sl-x", BASE)

    svc.delete_training_session()
    svc.delete_training_session()  # idempotent
    with pytest.raises(RuntimeError, match="HTTP 404"):
        fc.list_training_session_checkpoints(name)
    with httpx.Client(base_url=server.url, headers={"x-api-key": "drydock-local-key"}) as http:
        assert http.get(f"/v1/{name}").json()["state"] == "DELETED"
    assert emu.control_plane.jobs[("drydock", svc.training_session_id)].state.value in (
        "DELETING", "DELETED")
    svc.close()


def test_bad_requests_answer_the_real_statuses(served):
    emu, server = served
    svc = service(server)
    tc = svc.create_training_client(base_model=BASE)
    mine = svc.training_session_name
    ts = svc.training_session_id
    with httpx.Client(base_url=server.url, headers={"x-api-key": "drydock-local-key"}) as http:
        missing = http.get("/v1/accounts/drydock/trainingSessions/ts-0000000000000000")
        assert missing.status_code == 404 and missing.json()["code"] == 5
        assert "trainingSessions/ts-0000000000000000 not found" in missing.json()["message"]
        # deleting an unknown session is a 404 (the SDK treats it as already deleted)
        assert http.delete("/v1/accounts/drydock/trainingSessions/ts-0000000000000000").status_code == 404
        bad_verb = http.post(f"/v1/{mine}/checkpoints/x:frobnicate", json={})
        assert bad_verb.status_code == 404
        bad_model = http.post(f"/v1/{mine}/checkpoints/x:promote",
                              json={"output_model": "accounts/drydock/models/Bad_Name",
                                    "base_model": BASE})
        assert bad_model.status_code == 400 and bad_model.json()["code"] == 3
        # the serverless gateway: an unknown session, an unknown request
        gw = "/training/v1/serverless/api/v1"
        r = http.post(f"{gw}/create_model", json={"session_id": "ts-nope", "base_model": BASE})
        assert r.status_code == 404
        r = http.post(f"{gw}/retrieve_future", json={"request_id": f"{ts}:req-9-9"})
        assert r.status_code == 404
        r = http.post(f"{gw}/create_model", json={"session_id": ts, "base_model":
                                                   "accounts/fireworks/models/qwen3-8b"})
        assert r.status_code == 400 and "bound to base model" in r.json()["message"]
    # another account's key: the session is not theirs (403 on its account's path)
    with httpx.Client(base_url=server.url, headers={"x-api-key": OTHER_KEY}) as http:
        assert http.get(f"/v1/{mine}").status_code == 403
        assert http.post("/training/v1/serverless/api/v1/session_heartbeat",
                         json={"session_id": ts}).status_code == 404
    # a checkpoint path that names no run of the caller's: the load's future fails
    with pytest.raises(fw.RequestFailedError, match="not found"):
        tc.load_state(f"drydock/run-{'0' * 32}/step-1").result(timeout=60)
    with pytest.raises(fw.RequestFailedError, match="never-saved.*not found"):
        tc.load_state("never-saved").result(timeout=60)
    assert fb_step(tc) > 0  # the trainer is still healthy
    svc.delete_training_session()
    svc.close()


def test_a_full_pool_queues_the_next_session_until_one_is_deleted(served):
    emu, server = served
    cp = emu.control_plane
    holders = [service(server) for _ in range(2)]  # the pool: 2 sessions per base model
    for h in holders:
        h.create_training_client(base_model=BASE)
    waiting = service(server)
    waiting._enable_serverless_supervised_409_retry()  # the SDK's capacity-409 retry
    out: dict = {}

    def create() -> None:
        try:
            out["tc"] = waiting.create_training_client(base_model=BASE)
        except Exception as e:  # pragma: no cover - reported below
            out["error"] = e

    ts = waiting.training_session_id
    queued = threading.Event()
    emu.events.subscribe(lambda e: queued.set() if e.job == ts and e.kind == "job.state"
                         and e.detail.get("dst") == "PENDING" else None)
    t = threading.Thread(target=create)
    t.start()
    assert queued.wait(60)  # its create_model asked for a slot and waits in the pool
    # a second queued session without the opt-in: the 409 is fatal, with the capacity marker
    impatient = service(server)
    with pytest.raises(Exception, match="capacity_exhausted"):
        impatient.create_training_client(base_model=BASE)
    assert cp.jobs[("drydock", ts)].state.value == "PENDING"
    holders[0].delete_training_session()  # frees a slot: the queue's head gets it
    t.join(timeout=120)
    assert "error" not in out and out["tc"].run_id
    assert fb_step(out["tc"]) > 0
    states = [(e.detail.get("src"), e.detail.get("dst")) for e in emu.events
              if e.job == ts and e.kind == "job.state"]
    assert states[0] == (None, "PENDING") and ("PENDING", "CREATING") in states
    for svc in (*holders, waiting, impatient):
        svc.delete_training_session()
        svc.close()


def _one_run(seed: int) -> str:
    emu = Emulator(seed=seed, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        svc = service(server, emu.api_key)
        emu.control_plane.inject([Preempt(job=svc.training_session_id, at_step=2)])
        tc = svc.create_training_client(base_model=BASE)
        fb_step(tc)
        tc.save_state("step-1").result(timeout=60)
        with pytest.raises(Exception):  # noqa: B017
            fb_step(tc)
        svc.delete_training_session()
        svc.close()
        return emu.events.to_jsonl()


def test_same_seed_gives_a_byte_identical_event_log():
    a, b = _one_run(5), _one_run(5)
    assert a == b
    assert '"serverless.session_created"' in a and '"serverless.run_created"' in a
    assert '"serverless.session_deleted"' in a and '"trainer.stop"' in a


def test_serverless_sampling_serves_the_sessions_sampler_checkpoint(served):
    emu, server = served
    svc = service(server)
    tc = svc.create_training_client(base_model=BASE)
    for _ in range(3):
        fb_step(tc)
    saved = tc.save_weights_for_sampler_ext("policy")
    assert saved.path == f"drydock/{tc.run_id}/{saved.snapshot_name}"
    sc = svc.create_sampling_client(model_path=saved.path)
    prompt = [1, 2, 3, 4, 5]
    resp = sc.sample(fw.ModelInput.from_ints(prompt), 2,
                     fw.SamplingParams(max_tokens=4, temperature=0.8, seed=5),
                     include_prompt_logprobs=True).result(timeout=60)
    assert [len(s.tokens) for s in resp.sequences] == [4, 4]
    d = fw.Datum(model_input=fw.ModelInput.from_ints(prompt[:-1]),
                 loss_fn_inputs={"target_tokens": prompt[1:]})
    trainer_lp = list(tc.forward([d], "cross_entropy").result(timeout=60)
                      .loss_fn_outputs[0]["logprobs"].data)
    assert resp.prompt_logprobs[1:] == trainer_lp  # the served weights are the trained ones
    with httpx.Client(base_url=server.url,
                      headers={"authorization": "Bearer drydock-local-key"}) as http:
        url = "/training/v1/serverless/inference/v1/completions"
        base = http.post(url, json={"model": svc.training_session_name, "prompt": prompt,
                                    "max_tokens": 1, "logprobs": True, "echo": True})
        assert base.status_code == 200  # the session's base weights: not the trained ones
        base_lp = [r["logprob"] for r in base.json()["choices"][0]["logprobs"]["content"]]
        assert len(base_lp[1:len(prompt)]) == 4 and all(isinstance(x, float) for x in base_lp[1:])
        assert all(abs(a - b) > 1e-6 for a, b in zip(base_lp[1:len(prompt)], trainer_lp,
                                                      strict=True))
        state = tc.save_state("state-s").result(timeout=60).path
        bad = http.post(url, json={"model": f"{svc.training_session_name}/checkpoints/{state}",
                                   "prompt": prompt, "max_tokens": 1})
        assert bad.status_code == 400 and "state checkpoint" in bad.json()["error"]["message"]
        missing = http.post(url, json={"model": f"{svc.training_session_name}/checkpoints/nope",
                                       "prompt": prompt, "max_tokens": 1})
        assert missing.status_code == 404
    svc.delete_training_session()
    svc.close()


def test_a_durable_server_restarted_keeps_its_sessions_and_their_checkpoints(tmp_path):
    with Emulator(seed=2, runtime=thread_runtime(torch_threads=1), data_dir=tmp_path,
                  durable=True) as emu, emu.serve() as server:
        svc = service(server, emu.api_key)
        tc = svc.create_training_client(base_model=BASE)
        fb_step(tc)
        saved = tc.save_state("kept").result(timeout=60).path
        name = svc.training_session_name
        svc.close()
    with Emulator(seed=2, runtime=thread_runtime(torch_threads=1), data_dir=tmp_path,
                  durable=True) as emu, emu.serve() as server:
        fc = cp_client(emu, server, emu.api_key)
        rows = fc.list_training_session_checkpoints(name)
        assert [r["checkpointPath"] for r in rows] == [saved]
        # the restored session's trainer came back (as after losing its machine): resume from it
        again = service(server, emu.api_key)
        tc2 = again.create_training_client_from_state_with_optimizer(saved)
        assert fb_step(tc2) > 0
        fc.delete_training_session(name)
        with httpx.Client(base_url=server.url, headers={"x-api-key": emu.api_key}) as http:
            assert http.get(f"/v1/{name}").json()["state"] == "DELETED"
        again.delete_training_session()
        again.close()


def test_serverless_lora_publication_samples_and_promotes_an_adapter(served):
    emu, server = served
    svc = service(server)
    tc = svc.create_training_client(base_model=BASE, lora_rank=4)
    losses = [fb_step(tc) for _ in range(3)]
    assert losses[-1] < losses[0]
    snap = tc.save_weights_for_sampler_ext("lora-policy")
    sc = svc.create_sampling_client(model_path=snap.path)
    prompt = [3, 4, 5, 6]
    resp = sc.sample(fw.ModelInput.from_ints(prompt), 1, fw.SamplingParams(max_tokens=2, seed=1),
                     include_prompt_logprobs=True).result(timeout=60)
    d = fw.Datum(model_input=fw.ModelInput.from_ints(prompt[:-1]),
                 loss_fn_inputs={"target_tokens": prompt[1:]})
    trainer_lp = list(tc.forward([d], "cross_entropy").result(timeout=60)
                      .loss_fn_outputs[0]["logprobs"].data)
    assert resp.prompt_logprobs[1:] == pytest.approx(trainer_lp, abs=1e-5)  # adapter applied
    fc = cp_client(emu, server)
    row = next(r for r in fc.list_training_session_checkpoints(svc.training_session_name)
               if r["promotable"])
    assert row["checkpointType"] == "CHECKPOINT_TYPE_INFERENCE_LORA"
    model = fc.promote_session_checkpoint(row["name"], "sl-adapter", BASE)
    assert model["kind"] == "HF_PEFT_ADDON" and model["peftDetails"]["r"] == 4
    svc.delete_training_session()
    svc.close()


def test_a_capacity_fault_on_the_serverless_pool_queues_sessions():
    from drydock.emulator.faults import CapacityStarvation, FaultPlan

    emu = Emulator(seed=1, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        emu.inject(FaultPlan(faults=[CapacityStarvation(
            accelerator_type="SERVERLESS:qwen3-0p6b", accelerators=0, duration_s=600)]))
        svc = service(server, emu.api_key)
        with pytest.raises(Exception, match="capacity_exhausted"):
            svc.create_training_client(base_model=BASE)
        job = emu.control_plane.jobs[("drydock", svc.training_session_id)]
        assert job.state.value == "PENDING"
        emu.advance(600)  # the pool comes back: the queued session gets its trainer
        assert job.state.value in ("CREATING", "RUNNING")
        svc.delete_training_session()
        svc.close()
