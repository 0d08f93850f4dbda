"""The real fireworks-ai 1.2.28 client against drydock: training-shape profiles, models,
checkpoint listing and promotion."""

from __future__ import annotations

import pytest

pytest.importorskip("fireworks.training.sdk.trainer")

from _cp_support import QWEN3_8B, config, fireworks_env
from fireworks.training.sdk.fireworks_client import (
    ModelDetailsUnavailableError,
    validate_output_model_id,
)

SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"


def test_resolve_training_profile_versioned_and_latest_validated():
    with fireworks_env() as env:
        v1 = env.mgr.resolve_training_profile(SHAPE + "/versions/1")
        latest = env.mgr.resolve_training_profile(SHAPE)
        shape, _ = env.emu.control_plane.catalog.shape(SHAPE)
        expected = shape.latest_validated()
        assert v1.training_shape_version == SHAPE + "/versions/1"
        assert v1.trainer_image_tag == shape.version("1").trainer_image_tag
        assert latest.training_shape_version == f"{SHAPE}/versions/{expected.version}"
        assert latest.trainer_image_tag == expected.trainer_image_tag
        assert latest.training_shape == SHAPE  # the parent, what 1.2.28 passes to create
        assert (latest.accelerator_type, latest.accelerator_count, latest.node_count) == (
            expected.accelerator_type, expected.accelerator_count, expected.node_count)
        assert latest.max_supported_context_length == expected.max_supported_context_length
        assert latest.deployment_shape == expected.deployment_shape_version
        assert latest.pipeline_parallelism == 1 and latest.supports_lora is False
        with pytest.raises(ValueError):
            env.mgr.resolve_training_profile("qwen3-8b-128k-h200")  # short ids are not resolved
        with pytest.raises(RuntimeError):
            env.mgr.resolve_training_profile("accounts/fireworks/trainingShapes/no-such-shape")


def test_the_shape_path_sends_the_parent_shape_and_runs_the_latest_version():
    with fireworks_env() as env:
        profile = env.mgr.resolve_training_profile(SHAPE)
        created = env.mgr.create(config(training_shape_ref=profile.training_shape))
        job = env.job(created.job_id)
        assert job.spec.training_shape == SHAPE  # what the SDK put in ?trainingShape=
        wire = env.mgr.get(created.job_id)
        assert wire["trainingConfig"]["trainingShape"] == profile.training_shape_version
        assert wire["trainingConfig"]["acceleratorType"] == profile.accelerator_type


def test_model_is_moe():
    with fireworks_env() as env:
        assert env.mgr.model_is_moe("accounts/fireworks/models/qwen3-30b-a3b") is True
        assert env.mgr.model_is_moe(QWEN3_8B) is False
        with pytest.raises(ModelDetailsUnavailableError) as err:
            env.mgr.model_is_moe("accounts/fireworks/models/no-such-model")
        assert err.value.status_code == 404


def test_list_checkpoints_and_promote_by_name():
    with fireworks_env() as env:
        job_id = env.mgr.create(config(requested_job_id="job-ckpt")).job_id
        assert env.mgr.list_checkpoints(job_id) == []
        cp = env.emu.control_plane
        cp.record_checkpoint(env.account, job_id, "step-10", kind="TRAINING", promotable=False)
        env.emu.advance(60)
        cp.record_checkpoint(env.account, job_id, "step-10-sampler-1a2b3c4d",
                             kind="INFERENCE_BASE", promotable=True)
        rows = env.mgr.list_checkpoints(job_id)
        assert [r["checkpointType"] for r in rows] == ["CHECKPOINT_TYPE_TRAINING",
                                                       "CHECKPOINT_TYPE_INFERENCE_BASE"]
        assert [r["promotable"] for r in rows] == [False, True]
        assert rows[0]["createTime"] < rows[1]["createTime"]  # oldest first

        model = env.mgr.promote_checkpoint(name=rows[1]["name"], output_model_id="my-model",
                                           base_model=QWEN3_8B)
        assert model["name"] == f"accounts/{env.account}/models/my-model"
        assert model["state"] == "READY"
        assert f"accounts/{env.account}/models/my-model" in cp.models
        with pytest.raises(RuntimeError, match="Failed to promote checkpoint"):
            env.mgr.promote_checkpoint(name=rows[0]["name"], output_model_id="not-promotable",
                                       base_model=QWEN3_8B)
        with pytest.raises(ValueError):
            env.mgr.promote_checkpoint(name=rows[1]["name"], output_model_id="Bad_Id",
                                       base_model=QWEN3_8B)
        env.mgr.delete(job_id)  # a tombstone still lists its checkpoints
        env.emu.advance(10)
        assert len(env.mgr.list_checkpoints(job_id)) == 2


def test_list_checkpoints_follows_next_page_tokens():
    with fireworks_env() as env:
        job_id = env.mgr.create(config(requested_job_id="job-many")).job_id
        names = [f"step-{i:03d}" for i in range(250)]  # more than the SDK's pageSize=200
        for name in names:
            env.emu.control_plane.record_checkpoint(env.account, job_id, name, kind="TRAINING",
                                                    promotable=False)
        rows = env.mgr.list_checkpoints(job_id)
        assert [r["name"].rsplit("/", 1)[1] for r in rows] == names


def test_legacy_positional_promote_resolves_the_account():
    with fireworks_env() as env:
        job_id = env.mgr.create(config(requested_job_id="job-legacy")).job_id
        env.emu.control_plane.record_checkpoint(env.account, job_id, "final-0a0b0c0d",
                                                kind="INFERENCE_BASE", promotable=True)
        with pytest.warns(DeprecationWarning):
            model = env.mgr.promote_checkpoint(job_id, "final-0a0b0c0d", "legacy-model", QWEN3_8B)
        assert model["name"].endswith("/models/legacy-model")


def test_validate_output_model_id():
    assert validate_output_model_id("good-model-1") == []
    assert any("required" in e for e in validate_output_model_id(""))
    assert any("invalid characters" in e for e in validate_output_model_id("Bad_Model"))
    assert any("too long" in e for e in validate_output_model_id("a" * 64))
