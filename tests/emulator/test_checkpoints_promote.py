"""Checkpoint rows on the control plane and promotion to a model."""

from __future__ import annotations

import httpx
from _emu_helpers import ACCOUNT, JOBS, Q06, assert_error, create, job_body

from drydock.emulator import Emulator

A = ACCOUNT
PROMOTE = f"/v1/accounts/{A}/checkpoints"


def rows(client: httpx.Client, job_id: str = "j1", **params) -> list[dict]:
    r = client.get(f"{JOBS}/{job_id}/checkpoints", params=params)
    assert r.status_code == 200, r.text
    return r.json()["checkpoints"]


def promote_body(model: str, job_id: str = "j1", base: str = Q06) -> dict:
    return {"output_model": f"accounts/{A}/models/{model}",
            "trainer_job_id": f"accounts/{A}/rlorTrainerJobs/{job_id}",
            "base_model": base, "async_promotion": True}


def saved(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1")
    emu.advance(30)
    cp = emu.control_plane
    cp.record_checkpoint(A, "j1", "step-1", "TRAINING", False, step=1)
    emu.advance(10)
    cp.record_checkpoint(A, "j1", "sampler-1-0a1b2c3d", "INFERENCE_BASE", True, step=1)
    emu.advance(10)
    cp.record_checkpoint(A, "j1", "step-2", "TRAINING", False, step=2)


def test_rows_are_ordered_by_create_time_with_wire_fields(emu: Emulator, client) -> None:
    saved(emu, client)
    got = rows(client)
    assert [r["name"] for r in got] == [f"accounts/{A}/rlorTrainerJobs/j1/checkpoints/{n}"
                                        for n in ("step-1", "sampler-1-0a1b2c3d", "step-2")]
    assert [r["createTime"] for r in got] == sorted(r["createTime"] for r in got)
    assert got[0]["createTime"] == "2026-01-01T00:00:30.000000Z"
    assert [r["checkpointType"] for r in got] == [
        "CHECKPOINT_TYPE_TRAINING", "CHECKPOINT_TYPE_INFERENCE_BASE", "CHECKPOINT_TYPE_TRAINING"]
    assert [r["promotable"] for r in got] == [False, True, False]
    assert [e.detail["name"] for e in emu.events.filter("checkpoint.saved")] == [
        "step-1", "sampler-1-0a1b2c3d", "step-2"]


def test_resave_moves_create_time_and_reorders(emu: Emulator, client) -> None:
    saved(emu, client)
    emu.advance(100)
    emu.control_plane.record_checkpoint(A, "j1", "step-1", "TRAINING", False, step=3)
    got = rows(client)
    assert got[-1]["name"].endswith("/step-1")
    assert got[-1]["createTime"] == got[-1]["updateTime"] == "2026-01-01T00:02:30.000000Z"
    assert len(got) == 3


def test_checkpoint_pages(emu: Emulator, client) -> None:
    saved(emu, client)
    first = client.get(f"{JOBS}/j1/checkpoints", params={"pageSize": 2}).json()
    assert len(first["checkpoints"]) == 2 and first["nextPageToken"]
    second = rows(client, pageSize=2, pageToken=first["nextPageToken"])
    assert [r["name"].rsplit("/", 1)[1] for r in second] == ["step-2"]


def test_promote_then_use_as_base_model(emu: Emulator, client) -> None:
    saved(emu, client)
    r = client.post(f"{PROMOTE}/sampler-1-0a1b2c3d:promote", json=promote_body("my-model"))
    assert r.status_code == 200, r.text
    model = r.json()["model"]
    assert model["name"] == f"accounts/{A}/models/my-model" and model["state"] == "READY"
    assert r.json()["operation"]["done"] is True
    assert client.get(f"/v1/accounts/{A}/models/my-model").json()["kind"] == "CUSTOM_MODEL"
    [ev] = emu.events.filter("model.promoted")
    assert ev.detail == {"model": f"accounts/{A}/models/my-model", "checkpoint": "sampler-1-0a1b2c3d"}
    # The promoted model is a base model for a new job.
    r = create(client, "j2", job_body(f"accounts/{A}/models/my-model"))
    assert r.status_code == 200, r.text
    assert emu.control_plane.get_job(A, "j2").model.name == Q06


def test_lora_job_promotes_to_a_peft_addon(emu: Emulator, client) -> None:
    create(client, "lora", job_body(loraRank=16))
    emu.control_plane.record_checkpoint(A, "lora", "s-1", "INFERENCE_LORA", True)
    r = client.post(f"{PROMOTE}/s-1:promote", json=promote_body("adapter", "lora"))
    assert r.json()["model"]["peftDetails"]["r"] == 16


def test_non_promotable_checkpoint_is_400(emu: Emulator, client) -> None:
    saved(emu, client)
    r = client.post(f"{PROMOTE}/step-1:promote", json=promote_body("nope"))
    assert_error(r, 400, 9, "not promotable")
    assert client.get(f"/v1/accounts/{A}/models/nope").status_code == 404


def test_duplicate_output_model_is_409(emu: Emulator, client) -> None:
    saved(emu, client)
    assert client.post(f"{PROMOTE}/sampler-1-0a1b2c3d:promote",
                       json=promote_body("m1")).status_code == 200
    r = client.post(f"{PROMOTE}/sampler-1-0a1b2c3d:promote", json=promote_body("m1"))
    assert_error(r, 409, 6, "already exists")


def test_promote_bad_requests(emu: Emulator, client) -> None:
    saved(emu, client)
    url = f"{PROMOTE}/sampler-1-0a1b2c3d:promote"
    assert_error(client.post(f"{PROMOTE}/missing:promote", json=promote_body("m")), 404, 5, "missing")
    assert_error(client.post(url, json=promote_body("Bad_Name")), 400, 3, "output model id")
    assert_error(client.post(url, json={**promote_body("m"), "output_model": "models/m"}), 400, 3,
                 "output_model")
    assert_error(client.post(url, json={**promote_body("m"), "extra": 1}), 400, 3, "extra")
    assert_error(client.post(url, content=b""), 400, 3, "empty")
    assert_error(client.post(url, json=promote_body("m", "ghost")), 404, 5, "ghost")
    assert_error(client.post(f"{PROMOTE}/sampler-1-0a1b2c3d:explode", json=promote_body("m")),
                 404, 5, "explode")


def test_checkpoints_survive_deletion_and_stay_promotable(emu: Emulator, client) -> None:
    saved(emu, client)
    client.delete(f"{JOBS}/j1")
    emu.advance(5)
    assert client.get(f"{JOBS}/j1").json()["state"] == "JOB_STATE_DELETED"
    assert len(rows(client)) == 3
    r = client.post(f"{PROMOTE}/sampler-1-0a1b2c3d:promote", json=promote_body("after-delete"))
    assert r.status_code == 200, r.text
