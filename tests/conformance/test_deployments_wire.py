"""The deployments, hot-load and completions wire, request by request (spec 2-7): shapes of the
answers the SDK parses, its error statuses and bodies, and a deterministic event log. In process,
no trainer (a deployment serves its base weights until a hot-load)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from drydock.emulator import Emulator, Timings

BASE = "accounts/fireworks/models/qwen3-0p6b"
SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
BODY = {"baseModel": BASE, "description": "Fireworks training deployment", "minReplicaCount": 1,
        "maxReplicaCount": 1, "enableHotLoad": True, "forTraining": False,
        "hotLoadBucketType": "FW_HOSTED",
        "hotLoadTrainerJob": "accounts/drydock/rlorTrainerJobs/job-1", "deploymentShape": SHAPE}
DEPS = "/v1/accounts/drydock/deployments"
M = "accounts/drydock/deployments/d1"
HOT = {"fireworks-deployment": M, "fireworks-model": BASE, "Authorization": "Bearer drydock-local-key"}


def make(seed: int = 0) -> Emulator:
    return Emulator(seed=seed, timings=Timings(provision_s=10.0))


def ready(emu: Emulator, c, dep: str = "d1") -> dict:
    r = c.post(f"{DEPS}?deploymentId={dep}", json=BODY)
    assert r.status_code == 200, r.text
    emu.advance(10)
    return c.get(f"{DEPS}/{dep}").json()


def completion(c, **kw):
    body = {"model": M, "prompt": [1, 2, 3], "max_tokens": 4, **kw}
    return c.post("/inference/v1/completions", json=body,
                  headers={"Authorization": "Bearer drydock-local-key"})


def test_lifecycle_states_and_fields() -> None:
    with make() as emu, emu.client() as c:
        assert c.get(f"{DEPS}/d1").status_code == 404
        created = c.post(f"{DEPS}?deploymentId=d1", json=BODY).json()
        assert created["state"] == "CREATING" and created["name"] == M
        assert created["hotLoadTrainerJob"] == BODY["hotLoadTrainerJob"]
        assert created["hotLoadBucketUrl"].endswith("/deployments/d1/")
        assert created["acceleratorType"] == "NVIDIA_H100_80GB"
        # while CREATING the probe gets a fast 404 (never 5xx: the SDK would retry for 300 s)
        assert completion(c, temperature=0.0).status_code == 404
        dup = c.post(f"{DEPS}?deploymentId=d1", json=BODY)
        assert dup.status_code == 409 and dup.json()["code"] == 6
        emu.advance(10)
        assert c.get(f"{DEPS}/d1").json()["state"] == "READY"
        # PATCH with a mask touches only the masked fields; without one, the body's
        upd = c.patch(f"{DEPS}/d1?updateMask=hot_load_transition_type",
                      json={"hotLoadTransitionType": "SYNC", "description": "ignored"}).json()
        assert upd["hotLoadTransitionType"] == "SYNC" and upd["description"] == BODY["description"]
        bad = c.patch(f"{DEPS}/d1?updateMask=bogus_field", json={})
        assert bad.status_code == 400 and "bogus_field" in bad.json()["message"]
        zero = c.patch(f"{DEPS}/d1", json={"maxReplicaCount": 0, "minReplicaCount": 0}).json()
        assert zero["replicaCount"] == 0 and zero["state"] == "READY"
        assert emu.control_plane.get_job("drydock", "deployment:d1").accelerators == 0
        assert completion(c).status_code == 404  # scaled to zero: not serving
        assert c.delete(f"{DEPS}/d1?ignoreChecks=true&hard=true").json() == {}
        assert c.get(f"{DEPS}/d1").status_code == 404
        # the id is free again at once (the old record finishes DELETING on the clock)
        again = c.post(f"{DEPS}?deploymentId=d1", json=BODY)
        assert again.status_code == 200 and again.json()["state"] == "CREATING"
        assert emu.control_plane.get_job("drydock", "deployment:d1:2").payload["deploymentId"] == "d1"


def test_bad_requests_in_the_services_words() -> None:
    with make() as emu, emu.client() as c:
        r = c.post(f"{DEPS}?deploymentId=Bad_Id", json=BODY)
        assert r.status_code == 400 and "invalid deployment id" in r.json()["message"]
        r = c.post(f"{DEPS}?deploymentId=d2", json={**BODY, "surprise": 1})
        assert r.status_code == 400 and 'unknown field "surprise"' in r.json()["message"]
        r = c.post(f"{DEPS}?deploymentId=d2", json={**BODY, "deploymentShape": "nope"})
        assert r.status_code == 400
        r = c.post(f"{DEPS}?deploymentId=d2&acceptShapelessRisk=true", json=BODY)
        assert r.status_code == 400 and "acceptShapelessRisk" in r.json()["message"]
        shapeless = {k: v for k, v in BODY.items() if k != "deploymentShape"}
        r = c.post(f"{DEPS}?deploymentId=d2&acceptShapelessRisk=true",
                   json={**shapeless, "acceptorType": "x"})
        assert r.status_code == 400
        r = c.post(f"{DEPS}?deploymentId=d2&acceptShapelessRisk=true",
                   json={**shapeless, "acceleratorType": "NVIDIA_H100_80GB"})
        assert r.status_code == 200 and r.json()["acceleratorType"] == "NVIDIA_H100_80GB"
        assert c.get(f"{DEPS}/d1", headers={"X-Api-Key": "wrong"}).status_code == 401
        ready(emu, c)
        r = completion(c, prompt="hello")
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        assert completion(c, stream_options={}).status_code == 400
        assert completion(c, prompt=[99999]).status_code == 400
        r = c.post("/inference/v1/completions", json={"model": M, "prompt": [1]},
                   headers={"X-Api-Key": "bad"})
        assert r.status_code == 401 and "error" in r.json()
        h = {**HOT, "fireworks-deployment": "accounts/drydock/deployments/nope"}
        assert c.get("/hot_load/v1/models/hot_load", headers=h).status_code == 404
        h = {**HOT, "fireworks-model": "accounts/fireworks/models/qwen3-8b"}
        assert c.get("/hot_load/v1/models/hot_load", headers=h).status_code == 400


def test_hot_load_status_and_unknown_snapshot() -> None:
    with make() as emu, emu.client() as c:
        c.post(f"{DEPS}?deploymentId=d1", json=BODY)
        booting = c.get("/hot_load/v1/models/hot_load", headers=HOT).json()
        assert booting["replicas"][0]["readiness"] is False   # never an empty list
        emu.advance(10)
        st = c.get("/hot_load/v1/models/hot_load", headers=HOT).json()
        assert st == {"replicas": [{"current_snapshot_identity": None, "readiness": True,
                                    "loading_state": {"stage": "idle",
                                                      "target_snapshot_identity": None}}]}
        r = c.post("/hot_load/v1/models/hot_load", headers=HOT,
                   json={"identity": "step-0-abc", "reset_prompt_cache": True})
        assert r.status_code == 200 and r.json()["identity"] == "step-0-abc"
        st = c.get("/hot_load/v1/models/hot_load", headers=HOT).json()["replicas"][0]
        assert st["loading_state"] == {"stage": "error", "target_snapshot_identity": "step-0-abc"}
        r = c.post("/hot_load/v1/models/hot_load", headers=HOT, json={"identity": "x", "extra": 1})
        assert r.status_code == 400


def test_completion_json_stream_and_echo() -> None:
    with make() as emu, emu.client() as c:
        ready(emu, c)
        out = completion(c, temperature=0.0, logprobs=True).json()
        ch = out["choices"][0]
        assert ch["raw_output"]["prompt_token_ids"] == [1, 2, 3]
        ids = ch["raw_output"]["completion_token_ids"]
        assert len(ids) == 4 and ch["finish_reason"] == "length"
        assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        rows = ch["logprobs"]["content"]
        assert [r["token_id"] for r in rows] == ids and all(r["sampling_logprob"] == 0.0 for r in rows)
        # the same request streamed: one row per token across chunks, then the final chunk, [DONE]
        text = completion(c, temperature=0.0, logprobs=True, stream=True,
                          perf_metrics_in_response=True).text
        events = [e[len("data: "):] for e in text.strip().split("\n\n")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        streamed = [r for ch in chunks for r in ch["choices"][0].get("logprobs", {}).get("content", [])]
        assert streamed == rows
        last = chunks[-1]
        assert last["choices"][0]["raw_output"]["completion_token_ids"] == ids
        assert last["usage"]["completion_tokens"] == 4 and "perf_metrics" in last
        # echo: prompt + completion ids, P + C rows; echo_last k: the last k prompt ids
        echo = completion(c, echo=True, logprobs=True, top_logprobs=2, seed=1).json()["choices"][0]
        assert echo["raw_output"]["completion_token_ids"][:3] == [1, 2, 3]
        assert len(echo["logprobs"]["content"]) == 7
        assert all(len(r["top_logprobs"]) == 2 for r in echo["logprobs"]["content"][1:])
        last2 = completion(c, echo_last=2, logprobs=True, seed=1).json()["choices"][0]
        assert last2["raw_output"]["completion_token_ids"][:2] == [2, 3]
        strip = lambda rows: [(r["token_id"], r["logprob"]) for r in rows]
        assert strip(last2["logprobs"]["content"]) == strip(echo["logprobs"]["content"][1:])
        # stop strings match the rendering of the completion ("<id>")
        first = completion(c, temperature=0.0).json()["choices"][0]["raw_output"]["completion_token_ids"][0]
        stopped = completion(c, temperature=0.0, stop=[f"<{first}>"]).json()["choices"][0]
        assert stopped["finish_reason"] == "stop"
        assert stopped["raw_output"]["completion_token_ids"] == [first]


def _run(seed: int) -> str:
    with make(seed) as emu, emu.client() as c:
        ready(emu, c)
        completion(c, seed=5)
        c.post("/hot_load/v1/models/hot_load", headers=HOT, json={"identity": "nope"})
        c.patch(f"{DEPS}/d1", json={"maxReplicaCount": 0, "minReplicaCount": 0})
        c.delete(f"{DEPS}/d1?ignoreChecks=true&hard=true")
        emu.advance(30)
        return emu.events.to_jsonl()


def test_event_log_is_deterministic() -> None:
    a, b = _run(3), _run(3)
    assert a == b
    kinds = [json.loads(line)["kind"] for line in a.splitlines()]
    for k in ("deployment.created", "deployment.replica_started", "deployment.hot_load_failed",
              "deployment.updated", "deployment.deleted"):
        assert k in kinds


def test_deployments_share_capacity_with_trainer_jobs() -> None:
    from drydock.emulator.faults import CapacityStarvation, FaultPlan

    with make() as emu, emu.client() as c:
        # One H100 free in the region: a trainer job takes it, the deployment queues.
        emu.inject(FaultPlan.of(CapacityStarvation(accelerator_type="NVIDIA_H100_80GB",
                                                   region="US_VIRGINIA_1", accelerators=1)))
        r = c.post("/v1/accounts/drydock/rlorTrainerJobs?rlorTrainerJobId=t1",
                   json={"trainingConfig": {"baseModel": BASE}})
        assert r.status_code == 200, r.text
        emu.advance(10)
        c.post(f"{DEPS}?deploymentId=d1", json=BODY)
        emu.advance(60)
        assert c.get(f"{DEPS}/d1").json()["state"] == "CREATING"
        assert emu.control_plane.get_job("drydock", "deployment:d1").state.value == "PENDING"
        c.delete("/v1/accounts/drydock/rlorTrainerJobs/t1")
        emu.advance(20)   # the trainer's capacity frees; the deployment provisions
        assert c.get(f"{DEPS}/d1").json()["state"] == "READY"
