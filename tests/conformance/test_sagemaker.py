"""sagemaker 3.27.0 (the real, unmodified SDK) runs its v3 fine-tuning trainers against drydock:
SFT on both paths, stop, DPO, RLVR, protected keys, missing datasets, interruption + resume,
throttling and a crash, with a guard that fails any test whose process tries to leave the
machine. Runs in .venv-sagemaker (scripts/setup.sh); skipped where the SDK is not installed.

One AWS endpoint serves the session: sagemaker builds boto3 clients at import time, bound to
the endpoint in the environment then. Each test resets the emulator (a fresh control plane and
virtual clock) and writes under its own S3 prefix.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import tarfile
from importlib.util import find_spec

import pytest

if find_spec("sagemaker") is None or find_spec("moto") is None:
    pytest.skip("sagemaker/moto not installed: run in .venv-sagemaker (scripts/setup.sh)",
                allow_module_level=True)

from drydock.emulator import FaultPlan
from drydock.emulator.dialects.sagemaker import DEFAULT_ROLE, AwsStack
from drydock.testing import virtual_time

MODEL = "huggingface-llm-qwen3-0-6b"
BUCKET = "conformance-data"
MLFLOW_ARN = "arn:aws:sagemaker:us-west-2:123456789012:mlflow-app/app-drydock"
_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}


# ------------------------------------------------------------------ the no-egress guard
class _EgressGuard:
    """Refuses (and records) every connection or name lookup that is not loopback."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._connect = socket.socket.connect
        self._getaddrinfo = socket.getaddrinfo

    def install(self) -> None:
        guard = self

        def connect(sock, address):
            host = address[0] if isinstance(address, tuple) else address
            if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOCAL:
                guard.attempts.append(f"connect {address}")
                raise ConnectionRefusedError(f"drydock test guard: {address} is off this machine")
            return guard._connect(sock, address)

        def getaddrinfo(host, *args, **kwargs):
            h = host.decode() if isinstance(host, bytes) else host
            if h is not None and h not in _LOCAL:
                guard.attempts.append(f"resolve {h}")
                raise socket.gaierror(f"drydock test guard: no lookups of {h}")
            return guard._getaddrinfo(host, *args, **kwargs)

        socket.socket.connect = connect
        socket.getaddrinfo = getaddrinfo

    def uninstall(self) -> None:
        socket.socket.connect = self._connect
        socket.getaddrinfo = self._getaddrinfo


@pytest.fixture(scope="module")
def stack():
    import torch

    from drydock.scenarios.workloads_sagemaker import preload_c_extensions

    preload_c_extensions()  # never import pandas inside a virtual-time warp (see there)
    torch.set_num_threads(1)  # tiny models on a shared 2-core runner: threads only contend
    guard = _EgressGuard()
    guard.install()
    s = AwsStack(seed=12).start()
    mp = pytest.MonkeyPatch()
    for k, v in s.environment().items():
        mp.setenv(k, v)
    import boto3

    boto3.DEFAULT_SESSION = None
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    _put_jsonl(s3, "sft/train.jsonl",
               [{"prompt": f"Q{i}: {i}+{i}=", "completion": f" {2 * i}"} for i in range(16)])
    _put_jsonl(s3, "dpo/train.jsonl",
               [{"prompt": f"say {i}", "chosen": f" {i}", "rejected": " no"} for i in range(8)])
    _put_jsonl(s3, "rl/train.jsonl", [{"prompt": f"echo {i}", "answer": f"{i}{i}"}
                                      for i in range(8)])
    s.guard = guard
    yield s
    s.close()
    mp.undo()
    guard.uninstall()


@pytest.fixture
def sm(stack):
    """A fresh emulator (control plane and virtual clock) per test; no egress in any test."""
    _fresh(stack)
    stack.guard.attempts.clear()
    yield stack
    assert stack.guard.attempts == [], f"requests tried to leave the machine: {stack.guard.attempts}"


def _fresh(stack) -> None:
    """A new control plane and virtual clock (the package group is re-made in it)."""
    stack.emulator.reset(seed=12)
    stack.app.requests.clear()
    stack.service.call("CreateModelPackageGroup", {"ModelPackageGroupName": "conformance"})


def _put_jsonl(s3, key: str, rows: list[dict]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(json.dumps(r) for r in rows).encode())


def _s3():
    import boto3

    return boto3.client("s3")


def _get(uri: str) -> bytes:
    bucket, key = uri[5:].split("/", 1)
    return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def _log_messages(job_name: str) -> list[str]:
    import boto3

    logs = boto3.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=job_name)["logStreams"]
    assert streams, f"no log stream for {job_name}"
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                 logStreamName=streams[0]["logStreamName"],
                                 startFromHead=True)["events"]
    return [e["message"] for e in events]


def _serverless(trainer_cls, dataset: str, out: str, **kw):
    return trainer_cls(model=MODEL, training_dataset=f"s3://{BUCKET}/{dataset}",
                       s3_output_path=f"s3://{BUCKET}/{out}", model_package_group="conformance",
                       mlflow_resource_arn=MLFLOW_ARN, role=DEFAULT_ROLE, accept_eula=True, **kw)


# ------------------------------------------------------------------ SFT, both paths
def test_sft_serverless_wait_completes_with_artifact_manifest_and_model_package(sm):
    from sagemaker.train import SFTTrainer
    from sagemaker.train.base_trainer import BaseTrainer

    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "sft-serverless")
    with virtual_time(sm.emulator) as vt:
        job = trainer.train(wait=True, poll=5)
    assert job.training_job_status == "Completed" and job.secondary_status == "Completed"
    steps = [t.status for t in job.secondary_status_transitions]
    assert steps == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert vt.elapsed() >= 30 + 10 + 8 * 5 + 10  # provision, download, 8 steps, upload
    out = f"s3://{BUCKET}/sft-serverless/{job.training_job_name}"
    assert job.model_artifacts.s3_model_artifacts == f"{out}/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(_get(f"{out}/output/model.tar.gz"))) as tar:
        names = tar.getnames()
    assert "drydock_model.json" in names and any(n.startswith("checkpoint/") for n in names)
    # the SDK's own manifest lookup finds an absolute checkpoint with objects under it
    ckpt = BaseTrainer._resolve_checkpoint_from_manifest(
        job_name=job.training_job_name, output_s3_path=f"s3://{BUCKET}/sft-serverless",
        sagemaker_session=trainer.sagemaker_session)
    assert ckpt == f"{out}/checkpoints/step-8"
    keys = _s3().list_objects_v2(Bucket=BUCKET, Prefix=ckpt[len(f"s3://{BUCKET}/"):])
    assert keys["KeyCount"] > 0
    # a model package registered in the group, naming its base model
    import boto3

    pkg = boto3.client("sagemaker").describe_model_package(
        ModelPackageName=job.output_model_package_arn)
    assert pkg["InferenceSpecification"]["Containers"][0]["BaseModel"]["HubContentName"] == MODEL
    # the worker's real output in CloudWatch and its metrics in the local MLflow store
    msgs = _log_messages(job.training_job_name)
    assert any(m.startswith("step 8/8 ") and "train_loss=" in m for m in msgs)
    history = sm.mlflow.client.get_metric_history(sm.mlflow.run_id(job.training_job_name),
                                                  "train_loss")
    assert [m.step for m in history] == list(range(1, 9))
    wire = sm.service.jobs[job.training_job_name].request
    assert "AlgorithmSpecification" not in wire and wire["ServerlessJobConfig"]["Peft"] == "LORA"


def test_sft_instance_type_wait_completes_and_sdk_reads_checkpoint(sm):
    from sagemaker.core.training.configs import Compute
    from sagemaker.train import SFTTrainer

    trainer = SFTTrainer(model=MODEL, training_dataset=f"s3://{BUCKET}/sft/train.jsonl",
                         s3_output_path=f"s3://{BUCKET}/sft-smtj", role=DEFAULT_ROLE,
                         accept_eula=True,
                         compute=Compute(instance_type="ml.g5.2xlarge", instance_count=1))
    trainer.hyperparameters.learning_rate = 0.001
    with virtual_time(sm.emulator):
        job = trainer.train(wait=True)
    assert job.training_job_status == "Completed"
    rec = sm.service.jobs[job.training_job_name]
    assert rec.request["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert sm.service.effective_hyperparameters(rec)["learning_rate"] == 0.001  # from the recipe
    # after wait=True the SDK swaps in the checkpoint named by output.tar.gz's manifest.json
    out = f"s3://{BUCKET}/sft-smtj/{job.training_job_name}"
    assert job.model_artifacts.s3_model_artifacts == f"{out}/checkpoints/step-8"
    with tarfile.open(fileobj=io.BytesIO(_get(f"{out}/output/output.tar.gz"))) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["checkpoint_s3_bucket"] == f"{out}/checkpoints/step-8"


def test_wait_false_then_stop_ends_stopped(sm):
    import time

    from sagemaker.train import SFTTrainer

    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "sft-stop")
    with virtual_time(sm.emulator):
        job = trainer.train(wait=False)
        assert job.training_job_status == "InProgress"
        time.sleep(55)  # virtual: provisioned, downloading done, a few steps in
        job.refresh()
        assert job.secondary_status == "Training"
        job.stop()
        job.wait(poll=5)
    assert job.training_job_status == "Stopped" and job.secondary_status == "Stopped"
    assert [t.status for t in job.secondary_status_transitions][-2:] == ["Stopping", "Stopped"]
    msgs = _log_messages(job.training_job_name)
    assert any("Training stopped" in m for m in msgs), msgs
    import boto3
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:  # stopping a stopped job: ValidationException
        boto3.client("sagemaker").stop_training_job(TrainingJobName=job.training_job_name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


# ------------------------------------------------------------------ DPO, RLVR
def test_dpo_small_run_trains_on_preference_pairs(sm):
    from sagemaker.train import DPOTrainer

    trainer = _serverless(DPOTrainer, "dpo/train.jsonl", "dpo")
    with virtual_time(sm.emulator):
        job = trainer.train(wait=True, poll=5)
    assert job.training_job_status == "Completed"
    assert sm.service.jobs[job.training_job_name].technique == "DPO"
    losses = sm.mlflow.client.get_metric_history(sm.mlflow.run_id(job.training_job_name),
                                                 "train_loss")
    # step 1: the policy equals the frozen reference, so every margin is 0 and loss = log 2
    assert losses[0].value == pytest.approx(0.693147, abs=1e-5)
    assert losses[-1].value < losses[0].value  # the chosen answers gain over the rejected


def test_rlvr_small_run_with_local_reward_function(sm):
    from sagemaker.train import RLVRTrainer

    # The evaluator ARN of a local reward function: a bare Lambda ARN makes the SDK run
    # Evaluator.create, which asks the hard-coded regional STS endpoint (the guard catches it).
    trainer = _serverless(RLVRTrainer, "rl/train.jsonl", "rlvr",
                          custom_reward_function=sm.service.evaluator_arn("exact_match"))
    trainer.hyperparameters.max_steps = 3
    trainer.hyperparameters.save_steps = 3
    trainer.hyperparameters.global_batch_size = 2
    trainer.hyperparameters.num_generations = 2
    with virtual_time(sm.emulator):
        job = trainer.train(wait=True, poll=5)
    assert job.training_job_status == "Completed"
    assert "Lambda.Invoke" in sm.app.requests  # the SDK checked the reward function first
    wire = sm.service.jobs[job.training_job_name].request
    assert wire["ServerlessJobConfig"]["EvaluatorArn"] == sm.service.evaluator_arn("exact_match")
    rewards = sm.mlflow.client.get_metric_history(sm.mlflow.run_id(job.training_job_name),
                                                  "reward_mean")
    assert len(rewards) == 3 and all(0.0 <= r.value <= 1.0 for r in rewards)


def test_rlaif_small_run_with_local_judge(sm):
    from sagemaker.train import RLAIFTrainer

    trainer = _serverless(RLAIFTrainer, "rl/train.jsonl", "rlaif",
                          reward_model_id="qwen.qwen3-32b-v1:0",
                          reward_prompt="Builtin.Correctness")
    trainer.hyperparameters.max_steps = 2
    trainer.hyperparameters.save_steps = 2
    trainer.hyperparameters.global_batch_size = 2
    trainer.hyperparameters.num_generations = 2
    with virtual_time(sm.emulator):
        job = trainer.train(wait=True, poll=5)
    assert job.training_job_status == "Completed"
    rec = sm.service.jobs[job.training_job_name]
    assert rec.technique == "RLAIF"
    assert rec.hyperparameters["judge_model_id"] == "bedrock/qwen.qwen3-32b-v1:0"
    rewards = sm.mlflow.client.get_metric_history(sm.mlflow.run_id(job.training_job_name),
                                                  "reward_mean")
    assert len(rewards) == 2  # the local judge stands in for the Bedrock model


# ------------------------------------------------------------------ refused input
def test_protected_key_override_is_refused(sm, caplog):
    import boto3
    from botocore.exceptions import ClientError
    from sagemaker.train import SFTTrainer

    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "protected",
                          overrides={"run": {"model_name_or_path": "s3://elsewhere/weights"}})
    with caplog.at_level(logging.WARNING), virtual_time(sm.emulator):
        job = trainer.train(wait=False)
    assert "Protected key 'model_name_or_path'" in caplog.text
    sent = sm.service.jobs[job.training_job_name].request["HyperParameters"]
    assert sent.get("model_name_or_path", "") == ""  # the override never reached the wire
    # a raw CreateTrainingJob that sets it anyway is refused by the service, 400
    body = dict(sm.service.jobs[job.training_job_name].request)
    body.update(TrainingJobName="raw-protected",
                HyperParameters={**sent, "model_name_or_path": "s3://elsewhere/weights"})
    with pytest.raises(ClientError) as err:
        boto3.client("sagemaker").create_training_job(**body)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Protected key 'model_name_or_path'" in err.value.response["Error"]["Message"]


def test_missing_dataset_is_refused(sm):
    import boto3
    from botocore.exceptions import ClientError
    from sagemaker.train import SFTTrainer

    trainer = _serverless(SFTTrainer, "sft/absent.jsonl", "missing")
    with virtual_time(sm.emulator), pytest.raises(ValueError, match="does not exist"):
        trainer.train(wait=False)
    assert "SageMaker.CreateTrainingJob" not in sm.app.requests
    with pytest.raises(ClientError) as err:  # the service refuses it too
        boto3.client("sagemaker").create_training_job(
            TrainingJobName="raw-missing", RoleArn=DEFAULT_ROLE,
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/sft/absent.jsonl"}}}],
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/missing"},
            ServerlessJobConfig={"JobType": "FineTuning", "CustomizationTechnique": "SFT",
                                 "BaseModelArn": "arn:aws:sagemaker:us-west-2:123456789012:"
                                                 f"hub-content/SageMakerPublicHub/Model/{MODEL}/1.0.0"})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "No S3 objects found" in err.value.response["Error"]["Message"]


# ------------------------------------------------------------------ faults
def _interrupted_run(sm) -> tuple[object, str]:
    from sagemaker.train import SFTTrainer

    _fresh(sm)
    sm.emulator.inject(FaultPlan.model_validate(
        {"faults": [{"kind": "preempt", "job": "*", "at_step": 5}]}))
    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "interrupted")
    with virtual_time(sm.emulator):
        job = trainer.train(wait=True, poll=5)
    return job, sm.emulator.events.to_jsonl()


def test_interruption_resumes_from_last_checkpoint_deterministically(sm):
    job, log1 = _interrupted_run(sm)
    assert job.training_job_status == "Completed"
    steps = [t.status for t in job.secondary_status_transitions]
    assert steps == ["Starting", "Downloading", "Training", "Interrupted", "Restarting",
                     "Downloading", "Training", "Uploading", "Completed"]
    msgs = _log_messages(job.training_job_name)
    assert "Resuming from checkpoint step-4 (step 4)" in msgs
    # step 5 ran twice (before and after the interruption) from the same state: same loss
    fives = [m for m in msgs if m.startswith("step 5/8 ")]
    assert len(fives) == 2 and fives[0] == fives[1]
    job2, log2 = _interrupted_run(sm)
    assert log1 == log2  # same seed + same faults => byte-identical event log


def test_max_wait_time_exceeded_while_waiting_for_capacity_after_interruption(sm):
    from sagemaker.core.shapes import StoppingCondition
    from sagemaker.train import SFTTrainer

    sm.emulator.inject(FaultPlan.model_validate({"faults": [
        {"kind": "preempt", "job": "*", "at_step": 3},
        {"kind": "capacity", "at_s": 50, "duration_s": 7200, "accelerator_type": "serverless",
         "accelerators": 0}]}))
    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "maxwait",
                          stopping_condition=StoppingCondition(max_runtime_in_seconds=3600,
                                                               max_wait_time_in_seconds=600))
    with virtual_time(sm.emulator) as vt:
        job = trainer.train(wait=True, poll=5)  # Stopped returns normally
    assert job.training_job_status == "Stopped"
    assert job.secondary_status == "MaxWaitTimeExceeded"
    assert 600 <= vt.elapsed() < 700


def test_crash_mid_job_fails_with_failure_reason(sm):
    from sagemaker.core.utils.exceptions import FailedStatusError
    from sagemaker.train import SFTTrainer

    sm.emulator.inject(FaultPlan.model_validate(
        {"faults": [{"kind": "trainer_crash", "job": "*", "at_step": 2, "exit_code": 3}]}))
    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "crash")
    with virtual_time(sm.emulator), pytest.raises(FailedStatusError) as err:
        trainer.train(wait=True, poll=5)
    assert "AlgorithmError" in str(err.value)
    rec = next(iter(sm.service.jobs.values()))
    assert rec.secondary == "Failed" and rec.failure_reason.startswith("AlgorithmError: ")


def test_throttling_is_a_4xx_the_sdk_retries(sm):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    sm.emulator.inject(FaultPlan.model_validate({"faults": [
        {"kind": "http", "route": "sagemaker.DescribeHubContent", "status": 429, "count": 1}]}))
    raw = boto3.client("sagemaker", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as err:
        raw.describe_hub_content(HubName="SageMakerPublicHub", HubContentType="Model",
                                 HubContentName=MODEL)
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sm.emulator.inject(FaultPlan.model_validate({"faults": [
        {"kind": "http", "route": "sagemaker.CreateTrainingJob", "status": 429, "count": 2}]}))
    from sagemaker.train import SFTTrainer

    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "throttled")
    with virtual_time(sm.emulator):
        job = trainer.train(wait=False)  # botocore backs off (virtually) and retries
    assert job.training_job_status == "InProgress"
    assert sm.app.requests.count("SageMaker.CreateTrainingJob") == 3


def test_capacity_error_fails_a_job_that_never_gets_capacity(sm):
    from sagemaker.core.utils.exceptions import FailedStatusError
    from sagemaker.train import SFTTrainer

    sm.emulator.inject(FaultPlan.model_validate({"faults": [
        {"kind": "capacity", "at_s": 0, "accelerator_type": "serverless", "accelerators": 0}]}))
    trainer = _serverless(SFTTrainer, "sft/train.jsonl", "capacity")
    with virtual_time(sm.emulator), pytest.raises(FailedStatusError, match="CapacityError"):
        trainer.train(wait=True, poll=60)
