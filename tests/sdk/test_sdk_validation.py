"""Bad input: drydock.sdk rejects an invalid TrainerJobConfig before any HTTP, with the very
message the service gives for the same request (one source: drydock.wire.fireworks)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drydock.emulator import Emulator
from drydock.sdk import (
    BadRequestError,
    ConfigValidationError,
    RetryPolicy,
    TrainerJobConfig,
    TrainerJobManager,
)

Q8 = "accounts/fireworks/models/qwen3-8b"
SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"


def _no_http(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


def offline_mgr() -> TrainerJobManager:
    return TrainerJobManager("k", http=httpx.Client(transport=httpx.MockTransport(_no_http)),
                             retry=RetryPolicy(instant=True))


def server_message(emu: Emulator, config: TrainerJobConfig) -> tuple[int, str]:
    """Send the config's create request as is (no client-side checks) and read the answer."""
    with emu.client() as c:
        r = c.post(f"/v1/accounts/{emu.account_id}/rlorTrainerJobs?"
                   f"{urlencode(config.create_query())}", json=config.create_payload())
    return r.status_code, (r.json().get("message", "") if r.status_code != 200 else "")


BAD = {
    "negative lora_rank": dict(lora_rank=-1),
    "zero learning_rate": dict(learning_rate=0.0),
    "negative max_context_length": dict(max_context_length=-5),
    "display_name too long": dict(display_name="x" * 64),
    "malformed job id": dict(requested_job_id="Bad_Job"),
    "malformed base model": dict(base_model="qwen3-8b"),
    "short training_shape_ref": dict(training_shape_ref="qwen3-8b-128k-h200"),
    "negative node_count": dict(node_count=-2),
    "negative accelerator_count": dict(accelerator_count=-1),
    "zero gradient_accumulation_steps": dict(gradient_accumulation_steps=0),
    "inactivity_timeout over 3 hours": dict(inactivity_timeout="10801s"),
}


@pytest.mark.parametrize("change", list(BAD.values()), ids=list(BAD))
def test_rejected_client_side_with_the_servers_message(change):
    config = TrainerJobConfig(**{"base_model": Q8, "requested_job_id": "job-v", **change})
    with pytest.raises(ConfigValidationError) as err:
        offline_mgr().create(config)
    assert isinstance(err.value, ValueError)
    with Emulator(seed=0) as emu:
        status, message = server_message(emu, config)
    assert status == 400
    assert err.value.messages[0] == message


def test_real_sdk_client_only_rules_keep_their_wording():
    with pytest.raises(ValueError, match="accelerator_type cannot be set when training shape"):
        TrainerJobConfig(base_model=Q8, training_shape_ref=SHAPE,
                         accelerator_type="NVIDIA_H100_80GB").validate()
    with pytest.raises(ValueError, match="inactivity_timeout must be at most 3 hours"):
        TrainerJobConfig(base_model=Q8, inactivity_timeout="20000s").validate()
    with pytest.raises(ValueError, match="base_model is required"):
        TrainerJobConfig(base_model="").validate()


def test_server_side_rejection_is_a_bad_request_error():
    # a well-formed but unknown base model passes client checks; the server says 404
    with Emulator(seed=0) as emu:
        mgr = TrainerJobManager.for_emulator(emu)
        with pytest.raises(Exception) as err:
            mgr.create(TrainerJobConfig(base_model="accounts/fireworks/models/nope"))
        assert err.value.status_code == 404 and isinstance(err.value, RuntimeError)
        # a shape for another base model: 400 from the server, typed
        with pytest.raises(BadRequestError, match="is for base model"):
            mgr.create(TrainerJobConfig(base_model="accounts/fireworks/models/qwen3-0p6b",
                                        training_shape_ref=SHAPE))


@pytest.fixture(scope="module")
def shared_emu():
    with Emulator(seed=0) as emu:
        yield emu


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lora_rank=st.integers(-3, 64), learning_rate=st.sampled_from([-1e-3, 0.0, 1e-5, 0.1]),
       max_context_length=st.one_of(st.none(), st.integers(-10, 4096)),
       name_len=st.integers(0, 80), node_count=st.one_of(st.none(), st.integers(-2, 2)),
       job_id=st.sampled_from(["ok-id", "Bad_Id", "-x", "a" * 63, "a" * 64]))
def test_client_and_server_agree_on_every_config(shared_emu, lora_rank, learning_rate,
                                                 max_context_length, name_len, node_count, job_id):
    """Property: the client rejects exactly what the server rejects, with its first message."""
    shared_emu.reset()
    config = TrainerJobConfig(base_model="accounts/fireworks/models/qwen3-0p6b",
                              lora_rank=lora_rank, learning_rate=learning_rate,
                              max_context_length=max_context_length,
                              display_name="d" * name_len or None, node_count=node_count,
                              requested_job_id=job_id)
    problems = config.problems()
    status, message = server_message(shared_emu, config)
    if problems:
        assert (status, message) == (400, problems[0])
    else:
        assert status == 200, message


def test_gradient_accumulation_steps_defaults_to_1_and_is_sent_as_the_service_takes_it():
    # Seed 000 documents the field (default 1; its example uses 4); fireworks-ai 1.2.28 refuses
    # anything but 1. 1 stays off the wire, so a default request is byte for byte the real SDK's.
    assert TrainerJobConfig(base_model=Q8).gradient_accumulation_steps == 1
    assert "gradientAccumulationSteps" not in TrainerJobConfig(base_model=Q8).create_payload()["trainingConfig"]
    config = TrainerJobConfig(base_model=Q8, training_shape_ref=SHAPE, gradient_accumulation_steps=4)
    config.validate()
    assert config.create_payload()["trainingConfig"]["gradientAccumulationSteps"] == 4
    with Emulator(seed=0) as emu:
        mgr = TrainerJobManager.for_emulator(emu)
        created = mgr.create(config)
        job = mgr.get(created.job_id)
    assert job["trainingConfig"]["gradientAccumulationSteps"] == 4


def test_wrong_types_are_refused_client_side_in_the_servers_words():
    config = TrainerJobConfig(base_model=Q8, lora_rank="8", requested_job_id="job-t")  # type: ignore[arg-type]
    with pytest.raises(ConfigValidationError) as err:
        config.create_payload()
    assert err.value.messages == ['invalid value for "trainingConfig.loraRank": '
                                  'Input should be a valid integer']
    with Emulator(seed=0) as emu, emu.client() as c:
        r = c.post(f"/v1/accounts/{emu.account_id}/rlorTrainerJobs?rlorTrainerJobId=job-t",
                   json={"trainingConfig": {"baseModel": Q8, "loraRank": "8"}})
    assert r.status_code == 400
    assert r.json()["message"] == "invalid request: " + err.value.messages[0]
