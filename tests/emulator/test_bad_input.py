"""Bad input at the HTTP boundary: the right status and a clear {"code","message"} every time,
never a 5xx (the SDK retries those for 5 minutes)."""

from __future__ import annotations

import httpx
import pytest
from _emu_helpers import ACCOUNT, JOBS, Q06, assert_error, create, job_body

from drydock.emulator import Emulator

A = ACCOUNT


def post_raw(client: httpx.Client, content: bytes, job_id: str = "j1") -> httpx.Response:
    return client.post(f"{JOBS}?rlorTrainerJobId={job_id}", content=content,
                       headers={"Content-Type": "application/json"})


# ---------------------------------------------------------------------------- create bodies
def test_malformed_json(client: httpx.Client) -> None:
    assert_error(post_raw(client, b'{"trainingConfig": {'), 400, 3, "malformed JSON")


def test_empty_body_on_create(client: httpx.Client) -> None:
    assert_error(post_raw(client, b""), 400, 3, "empty")


def test_json_that_is_not_an_object(client: httpx.Client) -> None:
    assert_error(post_raw(client, b"[1, 2]"), 400, 3, "invalid request")


def test_missing_training_config(client: httpx.Client) -> None:
    assert_error(post_raw(client, b'{"serviceMode": true}'), 400, 3, '"trainingConfig"', "missing")


def test_unknown_top_level_field(client: httpx.Client) -> None:
    body = {**job_body(), "gpuCount": 8}
    assert_error(create(client, "j1", body), 400, 3, 'unknown field "gpuCount"')


def test_unknown_nested_field(client: httpx.Client) -> None:
    body = job_body(epochs=3)
    assert_error(create(client, "j1", body), 400, 3, 'unknown field "trainingConfig.epochs"')


@pytest.mark.parametrize("field,value", [
    ("loraRank", "8"), ("loraRank", 1.5), ("learningRate", "fast"), ("acceleratorCount", True),
    ("baseModel", 7), ("maxContextLength", "4096"),
])
def test_wrong_types_in_training_config(client: httpx.Client, field, value) -> None:
    body = job_body(**{field: value})
    assert_error(create(client, "j1", body), 400, 3, f'"trainingConfig.{field}"')
    assert client.get(f"{JOBS}/j1").status_code == 404


@pytest.mark.parametrize("raw", [b"Infinity", b"NaN", b"1e400", b"-Infinity"])
def test_non_finite_numbers_are_rejected_not_stored(emu: Emulator, client: httpx.Client,
                                                    raw: bytes) -> None:
    body = (b'{"trainingConfig": {"baseModel": "%s", "learningRate": %s}}' % (Q06.encode(), raw))
    assert_error(post_raw(client, body), 400, 3, "learningRate", "finite")
    assert emu.control_plane.jobs == {}
    assert client.get(JOBS).status_code == 200     # the list still serializes


def test_json_null_body(client: httpx.Client) -> None:
    assert_error(post_raw(client, b"null"), 400, 3, "object")


def test_wrong_type_at_top_level(client: httpx.Client) -> None:
    body = {**job_body(), "serviceMode": "yes"}
    assert_error(create(client, "j1", body), 400, 3, '"serviceMode"')


def test_negative_lora_rank(client: httpx.Client) -> None:
    assert_error(create(client, "j1", job_body(loraRank=-1)), 400, 3, "lora_rank", ">= 0")


def test_non_positive_learning_rate(client: httpx.Client) -> None:
    assert_error(create(client, "j1", job_body(learningRate=0.0)), 400, 3, "learning_rate")


@pytest.mark.parametrize("value", ["30 minutes", "-5s", "1800", "s"])
def test_bad_inactivity_timeout(client: httpx.Client, value: str) -> None:
    body = {**job_body(), "inactivityTimeout": value}
    assert_error(create(client, "j1", body), 400, 3, "inactivityTimeout")


def test_good_inactivity_timeout_is_accepted(emu: Emulator, client: httpx.Client) -> None:
    body = {**job_body(), "inactivityTimeout": "1.5s"}
    assert create(client, "j1", body).status_code == 200
    assert emu.control_plane.get_job(A, "j1").spec.inactivity_timeout_s == 1.5


def test_display_name_too_long(client: httpx.Client) -> None:
    body = {**job_body(), "displayName": "x" * 64}
    assert_error(create(client, "j1", body), 400, 3, "displayName")


def test_unknown_base_model(client: httpx.Client) -> None:
    body = job_body("accounts/fireworks/models/gpt-17")
    assert_error(create(client, "j1", body), 404, 5, "gpt-17")


def test_unknown_accelerator_for_region(client: httpx.Client) -> None:
    body = job_body(acceleratorType="NVIDIA_B200_192GB", region="EU_ICELAND_1")
    assert_error(create(client, "j1", body), 400, 3, "NVIDIA_B200_192GB", "EU_ICELAND_1")


# ---------------------------------------------------------------------------- shapes
def test_unknown_shape_ref_is_not_found(client: httpx.Client) -> None:
    q = "trainingShape=accounts/fireworks/trainingShapes/no-such-shape"
    assert_error(create(client, "j1", job_body(), query=q), 404, 5, "no-such-shape")


def test_unknown_shape_version_is_not_found(client: httpx.Client) -> None:
    q = "trainingShape=accounts/fireworks/trainingShapes/qwen3-0p6b-32k-h100/versions/99"
    assert_error(create(client, "j1", job_body(), query=q), 404, 5, "versions/99")


@pytest.mark.parametrize("ref", ["qwen3-0p6b-32k-h100", "accounts/fireworks/shapes/x",
                                 "accounts//trainingShapes/x"])
def test_malformed_shape_ref_is_invalid_argument(client: httpx.Client, ref: str) -> None:
    assert_error(create(client, "j1", job_body(), query=f"trainingShape={ref}"), 400, 3,
                 "invalid training shape reference")


def test_shape_for_another_base_model(client: httpx.Client) -> None:
    q = "trainingShape=accounts/fireworks/trainingShapes/qwen3-8b-lora-h100"
    assert_error(create(client, "j1", job_body(), query=q), 400, 3, "qwen3-8b")


def test_valid_shape_ref_is_accepted(client: httpx.Client) -> None:
    q = "trainingShape=accounts/fireworks/trainingShapes/qwen3-0p6b-32k-h100"
    body = job_body()
    del body["trainingConfig"]["acceleratorType"], body["trainingConfig"]["acceleratorCount"]
    r = create(client, "j1", body, query=q)
    assert r.status_code == 200
    assert r.json()["trainingConfig"]["trainingShape"].endswith("/versions/2")


# ---------------------------------------------------------------------------- ids
def test_nonexistent_job_is_not_found(client: httpx.Client) -> None:
    assert_error(client.get(f"{JOBS}/ghost-job"), 404, 5, "ghost-job")
    assert_error(client.get(f"{JOBS}/ghost-job/checkpoints"), 404, 5, "ghost-job")
    assert_error(client.delete(f"{JOBS}/ghost-job"), 404, 5, "ghost-job")


@pytest.mark.parametrize("job_id", ["Upper", "under_score", "-leading", "trailing-", "x" * 64])
def test_invalid_job_id_format_on_create(client: httpx.Client, job_id: str) -> None:
    assert_error(create(client, job_id), 400, 3, "invalid job id")


@pytest.mark.parametrize("job_id", ["Upper", "under_score", "-leading"])
def test_invalid_job_id_format_on_get(client: httpx.Client, job_id: str) -> None:
    assert_error(client.get(f"{JOBS}/{job_id}"), 400, 3, "invalid job id")


def test_duplicate_job_id(client: httpx.Client) -> None:
    assert create(client, "j1").status_code == 200
    assert_error(create(client, "j1"), 409, 6, "already exists")


def test_server_generates_an_id_when_none_is_given(client: httpx.Client) -> None:
    r = client.post(JOBS, json=job_body())
    assert r.status_code == 200 and r.json()["name"].startswith(f"accounts/{A}/rlorTrainerJobs/job-")


# ---------------------------------------------------------------------------- auth
@pytest.mark.parametrize("headers", [{"X-Api-Key": "wrong"}, {"X-Api-Key": ""}])
def test_wrong_or_empty_api_key_is_401(emu: Emulator, headers) -> None:
    with emu.client(headers=headers) as c:
        for r in (c.get("/v1/accounts?pageSize=2"), create(c, "j1"), c.get(f"{JOBS}/j1"),
                  c.post(f"{JOBS}/j1:resume"), c.delete(f"{JOBS}/j1"),
                  post_raw(c, b"{not json")):
            assert_error(r, 401, 16, "API key")


def test_missing_api_key_is_401(emu: Emulator) -> None:
    with httpx.Client(transport=emu.client()._transport, base_url="http://drydock.local") as c:
        assert_error(c.get("/v1/accounts"), 401, 16, "API key")


def test_api_key_header_name_is_case_insensitive(emu: Emulator) -> None:
    with emu.client(headers={"x-api-key": emu.api_key}) as c:
        assert c.get("/v1/accounts").status_code == 200


def test_another_accounts_job_is_403() -> None:
    emu = Emulator(accounts={"alice": "alice-key", "bob": "bob-key"})
    alice, bob = emu.client("alice-key"), emu.client("bob-key")
    assert alice.post("/v1/accounts/alice/rlorTrainerJobs?rlorTrainerJobId=j1",
                      json=job_body()).status_code == 200
    for r in (bob.get("/v1/accounts/alice/rlorTrainerJobs/j1"),
              bob.delete("/v1/accounts/alice/rlorTrainerJobs/j1"),
              bob.post("/v1/accounts/alice/rlorTrainerJobs/j1:resume"),
              bob.post("/v1/accounts/alice/rlorTrainerJobs?rlorTrainerJobId=j2", json=job_body()),
              bob.get("/v1/accounts/alice/rlorTrainerJobs/j1/checkpoints"),
              bob.get("/v1/accounts/alice")):
        assert_error(r, 403, 7, "bob", "alice")
    assert bob.get("/v1/accounts").json()["accounts"] == [{"name": "accounts/bob",
                                                           "displayName": "bob", "state": "READY"}]
    # Public catalog reads are allowed for everyone.
    assert bob.get(f"/v1/{Q06}").status_code == 200
    alice.close(), bob.close(), emu.close()


def test_promoted_model_of_another_account_is_not_a_base_model() -> None:
    emu = Emulator(accounts={"alice": "alice-key", "bob": "bob-key"})
    cp = emu.control_plane
    alice, bob = emu.client("alice-key"), emu.client("bob-key")
    alice.post("/v1/accounts/alice/rlorTrainerJobs?rlorTrainerJobId=j1", json=job_body())
    cp.record_checkpoint("alice", "j1", "s-1", "INFERENCE_BASE", True)
    cp.promote_checkpoint("alice", "s-1", "secret-model", Q06)
    r = bob.post("/v1/accounts/bob/rlorTrainerJobs?rlorTrainerJobId=j2",
                 json=job_body("accounts/alice/models/secret-model"))
    assert r.status_code in (403, 404), r.text
    assert r.json()["code"] in (5, 7)
    alice.close(), bob.close(), emu.close()


# ---------------------------------------------------------------------------- lists, routes
@pytest.mark.parametrize("token", ["abc", "-1", "1.5"])
def test_bad_page_token(client: httpx.Client, token: str) -> None:
    create(client, "j1")
    assert_error(client.get(f"{JOBS}?pageToken={token}"), 400, 3, "pageToken")
    assert_error(client.get(f"{JOBS}/j1/checkpoints?pageToken={token}"), 400, 3, "pageToken")


def test_paging_walks_every_job_once(client: httpx.Client) -> None:
    for i in range(5):
        create(client, f"j{i}")
    names, token = [], ""
    while True:
        page = client.get(f"{JOBS}?pageSize=2" + (f"&pageToken={token}" if token else "")).json()
        names += [j["name"].rsplit("/", 1)[1] for j in page["rlorTrainerJobs"]]
        assert page["totalSize"] == 5           # the whole collection, not the page
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert names == [f"j{i}" for i in range(5)]


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    r = client.get("/v1/no/such/thing")
    assert_error(r, 404, 5)
    assert r.headers["content-type"].startswith("application/json")


def test_wrong_method_is_json_405(client: httpx.Client) -> None:
    r = client.put(f"{JOBS}/j1", json={})
    assert r.status_code == 405 and "message" in r.json()


def test_bad_input_never_leaves_a_half_created_job(emu: Emulator, client: httpx.Client) -> None:
    create(client, "j1", job_body(loraRank=-1))
    create(client, "j1", job_body("accounts/fireworks/models/nope"))
    assert emu.control_plane.jobs == {}
    assert emu.events.filter("job") == []


def test_job_larger_than_its_whole_pool_is_rejected_not_queued_forever():
    from drydock.emulator import Emulator

    emu = Emulator()
    with emu.client() as http:
        r = http.post("/v1/accounts/drydock/rlorTrainerJobs?skipValidations=true&rlorTrainerJobId=huge",
                      json={"trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-0p6b",
                                               "acceleratorType": "NVIDIA_H100_80GB",
                                               "acceleratorCount": 1000}})
        assert r.status_code == 400
        assert "needs 1000 NVIDIA_H100_80GB accelerators" in r.json()["message"]
        assert http.get("/v1/accounts/drydock/rlorTrainerJobs/huge").status_code == 404
    emu.close()
