"""`SageMakerService`: the SageMaker operations the v3 fine-tuning trainers call, over the core.

Each operation takes the JSON body and returns the JSON reply (or raises an `AwsError`). Jobs
are core jobs; this class keeps only what SageMaker adds (the request as sent, secondary
statuses, artifacts, model packages, the public hub).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]

from drydock.emulator.errors import ServiceError
from drydock.emulator.events import Event
from drydock.emulator.records import NO_RESTART, JobSpec, RestartPolicy
from drydock.emulator.states import JobState

from ._hub import (
    HUB_BUCKET,
    PUBLIC_HUB,
    HubModel,
    hub_content_document,
    public_models,
    recipe_objects,
)
from ._jobs import PRIMARY_TERMINAL, TrainingJobRecord, primary_status
from ._moto import MotoStore
from ._training import DEFAULT_REWARDS, RewardFn
from ._wire import (
    ACCOUNT,
    ResourceInUse,
    ResourceNotFound,
    UnknownOperation,
    ValidationException,
    arn,
)

if TYPE_CHECKING:
    from drydock.emulator.control_plane import ControlPlane

__all__ = ["SageMakerService", "PROTECTED_KEYS"]

S = JobState
PROTECTED_KEYS = ("model_type", "model_name_or_path", "dataset_catalog")
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TENANT = "sagemaker"
EVALUATOR_HUB = "DrydockEvaluators"


class SageMakerService:
    def __init__(
        self,
        region: str = "us-west-2",
        models: list[HubModel] | None = None,
        reward_functions: dict[str, RewardFn] | None = None,
    ) -> None:
        self.region = region
        self.models = {m.name: m for m in (models or public_models())}
        self.rewards: dict[str, RewardFn] = {**DEFAULT_REWARDS, **(reward_functions or {})}
        self.store = MotoStore(ACCOUNT, region)
        self.cp: ControlPlane = None  # type: ignore[assignment]  # set by attach(), before any use
        self.jobs: dict[str, TrainingJobRecord] = {}
        self._by_core: dict[str, str] = {}
        self.package_groups: dict[str, dict] = {}
        self.packages: dict[str, dict] = {}
        self.mlflow_apps: dict[str, dict] = {}
        self.mlflow_endpoint: str | None = None
        self.private_hubs: dict[str, dict] = {}
        self.metrics_sink: Callable[[TrainingJobRecord, dict, int], None] | None = None

    # ---------------------------------------------------------------- wiring
    def attach(self, cp: ControlPlane) -> None:
        """A new control plane (first mount or after a reset): forget jobs, seed the hub."""
        self.cp = cp
        self.jobs.clear()
        self._by_core.clear()
        self.package_groups.clear()
        self.packages.clear()
        self.private_hubs.clear()
        self._seed_evaluators()
        cp.events.subscribe(self._on_event)
        for model in self.models.values():
            for key, body in recipe_objects(model).items():
                self.store.put(f"s3://{HUB_BUCKET}/{key}", body)

    def _seed_evaluators(self) -> None:
        """A hub of JsonDoc evaluators, one per local reward function. Passing its ARN as
        `custom_reward_function` skips `Evaluator.create`, which asks the hard-coded regional
        STS endpoint for the caller (docs/sagemaker.md)."""
        contents = {}
        for name in sorted(self.rewards):
            lam = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
            doc = {
                "SubType": "AWS/Evaluator",
                "JsonContent": json.dumps({"Reference": lam, "EvaluatorType": "RewardFunction"}),
            }
            contents[("JsonDoc", name)] = {
                "HubContentName": name,
                "HubContentType": "JsonDoc",
                "HubContentVersion": "1.0.0",
                "DocumentSchemaVersion": "2.0.0",
                "HubContentDocument": json.dumps(doc),
                "HubContentSearchKeywords": ["@subtype:aws/evaluator"],
                "HubContentStatus": "Available",
            }
        self.private_hubs[EVALUATOR_HUB] = {
            "HubDescription": "drydock local reward functions",
            "contents": contents,
        }

    def evaluator_arn(self, reward_function: str) -> str:
        """The evaluator ARN of a local reward function (for `custom_reward_function`)."""
        if reward_function not in self.rewards:
            raise KeyError(
                f"no local reward function {reward_function!r}; have {sorted(self.rewards)}"
            )
        return arn(self.region, f"hub-content/{EVALUATOR_HUB}/JsonDoc/{reward_function}/1.0.0")

    def record_for(self, core_id: str) -> TrainingJobRecord | None:
        name = self._by_core.get(core_id)
        return self.jobs.get(name) if name else None

    def _on_event(self, ev: Event) -> None:
        """Core state changes become SageMaker secondary-status steps (at the event's time)."""
        if ev.kind != "job.state" or ev.account != TENANT:
            return
        rec = self.record_for(ev.job)
        if rec is None:
            return
        now = self.cp.now()
        dst, reason = ev.detail.get("dst"), ev.detail.get("reason", "")
        if dst in ("PENDING", "CREATING"):
            if rec.stop_status and rec.awaiting_restart is False and rec.secondary == "Interrupted":
                # a limit passed while it was interrupted: stop it as it comes back
                self.cp.clock.schedule(0.0, lambda: self._cancel_now(rec), "sagemaker:limit")
            restarting = bool(rec.transitions) and rec.secondary in ("Interrupted", "Restarting")
            if dst == "PENDING" and not restarting and not rec.transitions:
                self.cp.clock.schedule(
                    self.capacity_timeout_s, lambda: self._capacity_check(rec), "sagemaker:capacity"
                )
            if restarting:
                rec.enter("Restarting", "Restarting the job from its last checkpoint", now)
            else:
                rec.enter(
                    "Starting",
                    "Preparing the instances for training"
                    if dst == "CREATING"
                    else "Waiting for ML compute capacity",
                    now,
                )
        elif dst == "FAILED":
            job = self.cp.jobs.get((TENANT, ev.job))
            assert job is not None  # the plane logs job.state for a job it holds
            if job.status_code != "UNAVAILABLE":
                # Only a spot-style interruption resumes; a crash is an AlgorithmError. The core
                # reads the policy right after this transition, so this job keeps none.
                job.restart = NO_RESTART
            policy = job.restart
            will_restart = policy.mode != "none" and job.restarts < policy.max_restarts
            if will_restart:
                rec.awaiting_restart = True
                rec.enter("Interrupted", f"The job was interrupted: {reason}", now)
            else:
                rec.awaiting_restart = False
                rec.failure_reason = rec.failure_reason or _failure_reason(job, reason)
                rec.enter("Failed", rec.failure_reason, now)
                rec.training_end = now
        elif dst == "CANCELLING" and not rec.failure_reason:
            rec.enter("Stopping", "Stopping the training job", now)
        elif dst == "CANCELLED" and rec.failure_reason:
            rec.enter("Failed", rec.failure_reason, now)
            rec.training_end = now
        elif dst == "CANCELLED":
            status = rec.stop_status or "Stopped"
            rec.enter(
                status,
                {
                    "Stopped": "The job was stopped",
                    "MaxWaitTimeExceeded": "The job exceeded MaxWaitTimeInSeconds",
                    "MaxRuntimeExceeded": "The job exceeded MaxRuntimeInSeconds",
                }[status],
                now,
            )
            rec.training_end = now
        elif dst == "COMPLETED":
            rec.enter("Completed", "Training job completed", now)
            rec.training_end = now
        rec.last_modified = now

    # ---------------------------------------------------------------- dispatch
    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "op_" + operation, None)
        if handler is None:
            raise UnknownOperation(f"drydock does not emulate SageMaker.{operation}")
        with self.cp.lock:
            self.cp.tick()
            return handler(body)

    # ---------------------------------------------------------------- hub
    def _hub_arn(self, hub: str) -> str:
        return arn(self.region, f"hub/{hub}")

    def _content(self, hub: str, ctype: str, name: str) -> dict:
        if hub == PUBLIC_HUB and ctype == "Model" and name in self.models:
            m = self.models[name]
            return {
                "HubContentName": m.name,
                "HubContentType": "Model",
                "HubContentVersion": "1.0.0",
                "HubContentDisplayName": m.display_name,
                "HubContentDescription": f"{m.display_name} (drydock tiny stand-in)",
                "DocumentSchemaVersion": "2.0.0",
                "HubContentDocument": json.dumps(hub_content_document(m)),
                "HubContentSearchKeywords": [
                    "@recipe:finetuning_sft_lora",
                    "@recipe:finetuning_dpo_lora",
                    "@recipe:finetuning_rlvr_lora",
                ],
                "HubContentStatus": "Available",
            }
        stored = self.private_hubs.get(hub, {}).get("contents", {}).get((ctype, name))
        if stored is None:
            raise ResourceNotFound(
                f"Hub content {name} of type {ctype} does not exist in hub {hub}"
            )
        return stored

    def op_DescribeHubContent(self, b: dict) -> dict:
        hub, ctype, name = (
            b.get("HubName", ""),
            b.get("HubContentType", ""),
            b.get("HubContentName", ""),
        )
        if hub != PUBLIC_HUB and hub not in self.private_hubs:
            raise ResourceNotFound(f"Hub {hub} does not exist")
        c = self._content(hub, ctype, name)
        now = self.cp.clock.start if hasattr(self.cp.clock, "start") else 0
        return {
            **c,
            "HubName": hub,
            "HubArn": self._hub_arn(hub),
            "HubContentArn": arn(
                self.region, f"hub-content/{hub}/{ctype}/{name}/{c['HubContentVersion']}"
            ),
            "CreationTime": now,
            "LastModifiedTime": now,
        }

    def op_ListHubContents(self, b: dict) -> dict:
        hub, ctype = b.get("HubName", ""), b.get("HubContentType", "Model")
        names = (
            sorted(self.models)
            if hub == PUBLIC_HUB
            else sorted(
                n for (t, n) in self.private_hubs.get(hub, {}).get("contents", {}) if t == ctype
            )
        )
        out = []
        for n in names:
            c = self._content(hub, ctype, n)
            out.append(
                {
                    k: c[k]
                    for k in (
                        "HubContentName",
                        "HubContentType",
                        "HubContentVersion",
                        "DocumentSchemaVersion",
                        "HubContentStatus",
                    )
                    if k in c
                }
                | {
                    "HubContentSearchKeywords": c.get("HubContentSearchKeywords", []),
                    "HubContentArn": arn(
                        self.region, f"hub-content/{hub}/{ctype}/{n}/{c['HubContentVersion']}"
                    ),
                    "CreationTime": 0,
                }
            )
        return {"HubContentSummaries": out}

    def op_DescribeHub(self, b: dict) -> dict:
        hub = b.get("HubName", "")
        if hub != PUBLIC_HUB and hub not in self.private_hubs:
            raise ResourceNotFound(f"Hub {hub} does not exist")
        return {
            "HubName": hub,
            "HubArn": self._hub_arn(hub),
            "HubStatus": "InService",
            "HubDescription": self.private_hubs.get(hub, {}).get("HubDescription", "drydock"),
            "CreationTime": 0,
            "LastModifiedTime": 0,
        }

    def op_CreateHub(self, b: dict) -> dict:
        hub = b.get("HubName", "")
        if hub == PUBLIC_HUB or hub in self.private_hubs:
            raise ResourceInUse(f"Hub {hub} already exists")
        self.private_hubs[hub] = {"HubDescription": b.get("HubDescription", ""), "contents": {}}
        return {"HubArn": self._hub_arn(hub)}

    def op_ImportHubContent(self, b: dict) -> dict:
        hub = b.get("HubName", "")
        if hub not in self.private_hubs:
            raise ResourceNotFound(f"Hub {hub} does not exist")
        ctype, name = b["HubContentType"], b["HubContentName"]
        version = b.get("HubContentVersion", "1.0.0")
        self.private_hubs[hub]["contents"][(ctype, name)] = {
            "HubContentName": name,
            "HubContentType": ctype,
            "HubContentVersion": version,
            "DocumentSchemaVersion": b.get("DocumentSchemaVersion", "2.0.0"),
            "HubContentDocument": b.get("HubContentDocument", "{}"),
            "HubContentSearchKeywords": b.get("HubContentSearchKeywords", []),
            "HubContentStatus": "Available",
        }
        return {
            "HubArn": self._hub_arn(hub),
            "HubContentArn": arn(self.region, f"hub-content/{hub}/{ctype}/{name}/{version}"),
        }

    # ---------------------------------------------------------------- model packages
    def op_CreateModelPackageGroup(self, b: dict) -> dict:
        name = b["ModelPackageGroupName"]
        if name in self.package_groups:
            raise ValidationException(f"Model Package Group already exists: {name}")
        g = {
            "ModelPackageGroupName": name,
            "ModelPackageGroupArn": arn(self.region, f"model-package-group/{name}"),
            "ModelPackageGroupDescription": b.get("ModelPackageGroupDescription", ""),
            "CreationTime": self.cp.now(),
            "ModelPackageGroupStatus": "Completed",
            "CreatedBy": {},
        }
        self.package_groups[name] = g
        return {"ModelPackageGroupArn": g["ModelPackageGroupArn"]}

    def op_DescribeModelPackageGroup(self, b: dict) -> dict:
        name = b["ModelPackageGroupName"].rsplit("/", 1)[-1]
        if name not in self.package_groups:
            raise ValidationException(f"ModelPackageGroup {name} does not exist.")
        return self.package_groups[name]

    def op_DescribeModelPackage(self, b: dict) -> dict:
        ref = b["ModelPackageName"]
        pkg = self.packages.get(ref) or next(
            (p for p in self.packages.values() if p["ModelPackageName"] == ref), None
        )
        if pkg is None:
            raise ValidationException(f"ModelPackage {ref} does not exist.")
        return pkg

    def op_ListModelPackages(self, b: dict) -> dict:
        group = b.get("ModelPackageGroupName")
        rows = [
            p
            for p in self.packages.values()
            if group is None or p["ModelPackageGroupName"] == group.rsplit("/", 1)[-1]
        ]
        return {
            "ModelPackageSummaryList": [
                {
                    k: p[k]
                    for k in (
                        "ModelPackageName",
                        "ModelPackageGroupName",
                        "ModelPackageVersion",
                        "ModelPackageArn",
                        "CreationTime",
                        "ModelPackageStatus",
                    )
                }
                for p in rows
            ]
        }

    def on_completed(self, rec: TrainingJobRecord) -> None:
        """A finished serverless job with ModelPackageConfig registers a model package."""
        cfg = rec.request.get("ModelPackageConfig")
        if not cfg:
            return
        group = cfg["ModelPackageGroupArn"].rsplit("/", 1)[-1]
        version = 1 + sum(1 for p in self.packages.values() if p["ModelPackageGroupName"] == group)
        pkg_arn = arn(self.region, f"model-package/{group}/{version}")
        self.packages[pkg_arn] = {
            "ModelPackageName": group,
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": pkg_arn,
            "CreationTime": self.cp.now(),
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "drydock/inference:latest",
                        "ModelDataUrl": rec.model_artifacts,
                        "BaseModel": {
                            "HubContentName": rec.hub_model,
                            "HubContentVersion": "1.0.0",
                        },
                    }
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CustomerMetadataProperties": {"TrainingJobName": rec.name},
        }
        rec.output_model_package_arn = pkg_arn

    # ---------------------------------------------------------------- MLflow apps
    def op_ListMlflowApps(self, b: dict) -> dict:
        return {
            "Summaries": [
                {
                    k: a[k]
                    for k in (
                        "Arn",
                        "Name",
                        "Status",
                        "MlflowVersion",
                        "AccountDefaultStatus",
                        "CreationTime",
                        "LastModifiedTime",
                    )
                }
                for a in self.mlflow_apps.values()
            ]
        }

    def op_CreateMlflowApp(self, b: dict) -> dict:
        name = b["Name"]
        app_arn = arn(self.region, f"mlflow-app/{name}")
        self.mlflow_apps[app_arn] = {
            "Arn": app_arn,
            "Name": name,
            "Status": "Created",
            "MlflowVersion": "3.0",
            "DefaultDomainIdList": [],
            "AccountDefaultStatus": b.get("AccountDefaultStatus", "DISABLED"),
            "ArtifactStoreUri": b.get("ArtifactStoreUri", ""),
            "CreationTime": self.cp.now(),
            "LastModifiedTime": self.cp.now(),
        }
        return {"Arn": app_arn}

    def op_DescribeMlflowApp(self, b: dict) -> dict:
        app = self.mlflow_apps.get(b.get("Arn", ""))
        if app is None:
            raise ResourceNotFound(f"MLflow app {b.get('Arn')} does not exist")
        return app

    def op_CreatePresignedMlflowAppUrl(self, b: dict) -> dict:
        return {"AuthorizedUrl": (self.mlflow_endpoint or "http://127.0.0.1") + "/#/"}

    op_CreatePresignedMlflowTrackingServerUrl = op_CreatePresignedMlflowAppUrl

    # ---------------------------------------------------------------- training jobs
    def op_CreateTrainingJob(self, b: dict) -> dict:
        name = b.get("TrainingJobName", "")
        if not _NAME_RE.match(name):
            raise ValidationException(
                f"1 validation error detected: Value '{name}' at 'trainingJobName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
            )
        if name in self.jobs:
            raise ResourceInUse(
                f"Training job names must be unique within an AWS account and "
                f"region, and a training job with this name already exists "
                f"({self.jobs[name].arn})"
            )
        if not b.get("RoleArn"):
            raise ValidationException("RoleArn is required")
        serverless = "ServerlessJobConfig" in b
        if not serverless and "AlgorithmSpecification" not in b:
            raise ValidationException(
                "AlgorithmSpecification is required unless ServerlessJobConfig is given"
            )
        if not b.get("OutputDataConfig", {}).get("S3OutputPath"):
            raise ValidationException("OutputDataConfig.S3OutputPath is required")
        hps = {str(k): str(v) for k, v in (b.get("HyperParameters") or {}).items()}
        if len(hps) > 100:
            raise ValidationException("HyperParameters may hold at most 100 entries")
        channels = {c["ChannelName"]: c for c in b.get("InputDataConfig", [])}
        if "train" not in channels:
            raise ValidationException("InputDataConfig must contain a 'train' channel")
        for ch in channels.values():
            uri = ch.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri")
            if uri and self.store.read_prefix(uri) is None:
                raise ValidationException(
                    f'No S3 objects found under S3 URL "{uri}" given in '
                    f"input data source. Please ensure that the bucket "
                    f"exists in the selected region ({self.region}), that "
                    f"objects exist under that S3 prefix, and that the role "
                    f'"{b["RoleArn"]}" has "s3:ListBucket" permissions '
                    f'on bucket "{uri[5:].split("/", 1)[0]}".'
                )
        recipe = self._recipe(channels) if not serverless else None
        hub_model, technique, lora = self._resolve_model(b, recipe)
        self._check_protected(hps, recipe)
        rec = TrainingJobRecord(
            name=name,
            arn=arn(self.region, f"training-job/{name.lower()}"),
            request=b,
            core_id="sm-" + hashlib.sha1(name.encode()).hexdigest()[:16],
            tenant=TENANT,
            region=self.region,
            creation_time=self.cp.now(),
            technique=technique,
            hub_model=hub_model.name,
            hyperparameters=hps,
            serverless=serverless,
        )
        rec.recipe = recipe  # type: ignore[attr-defined]
        hp = self.effective_hyperparameters(rec)
        lora_rank = int(float(hp.get("lora_rank", 8))) if lora else 0
        count = 1 if serverless else int(b.get("ResourceConfig", {}).get("InstanceCount", 1))
        spec = JobSpec(
            base_model=hub_model.catalog_model,
            lora_rank=lora_rank,
            learning_rate=float(hp.get("learning_rate", 2e-4)),
            accelerator_type=_accelerator(b),
            accelerator_count=1,
            node_count=count,
            region=self.region,
            display_name=name,
            preemptible=True,
        )
        self.jobs[name] = rec
        self._by_core[rec.core_id] = name
        try:
            self._create_core_job(rec, spec)
        except ServiceError as e:
            del self.jobs[name], self._by_core[rec.core_id]
            raise ValidationException(str(e)) from None
        rec.last_modified = rec.creation_time
        max_wait = (b.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
        max_run = (b.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        for limit, status in ((max_wait, "MaxWaitTimeExceeded"), (max_run, "MaxRuntimeExceeded")):
            if limit:
                self.cp.clock.schedule(
                    float(limit),
                    lambda s=status: self._limit(rec, s),  # type: ignore[misc]
                    f"sagemaker:{status}",
                )
        return {"TrainingJobArn": rec.arn}

    def _create_core_job(self, rec: TrainingJobRecord, spec: JobSpec) -> None:
        """A core job of this dialect; a spot-style interruption resumes it from its newest
        checkpoint (the core's restart policy)."""
        self.cp.create_job(
            TENANT,
            rec.core_id,
            spec,
            {"training_job_name": rec.name},
            dialect="sagemaker",
            restart=RestartPolicy(mode="resume", max_restarts=self.max_restarts),
        )

    max_restarts = 3

    def _limit(self, rec: TrainingJobRecord, status: str) -> None:
        """MaxWaitTimeInSeconds / MaxRuntimeInSeconds (or a stop while interrupted) came due."""
        with self.cp.lock:
            job = self.cp.jobs.get((TENANT, rec.core_id))
            if job is None or primary_status(rec, job.state) in PRIMARY_TERMINAL | {"Stopping"}:
                return
            rec.stop_status = status
            self.cp.log("sagemaker.limit", TENANT, rec.core_id, status=status)
            if job.state == S.FAILED:  # interrupted, its restart already scheduled
                rec.awaiting_restart = False
                job.restart = NO_RESTART
                return
            self._cancel_now(rec)

    capacity_timeout_s = 1800.0

    def _capacity_check(self, rec: TrainingJobRecord) -> None:
        """Still queued for capacity after `capacity_timeout_s`: Failed with a CapacityError
        (the core job is cancelled, which releases its place in the queue)."""
        with self.cp.lock:
            job = self.cp.jobs.get((TENANT, rec.core_id))
            if job is None or job.state != S.PENDING or rec.transitions[-1]["Status"] != "Starting":
                return
            rec.failure_reason = (
                "CapacityError: Unable to provision requested ML compute "
                "capacity. Please retry using a different ML instance type or "
                "after some time."
            )
            self.cp.log("sagemaker.capacity_error", TENANT, rec.core_id)
            self.cp.cancel_job(TENANT, rec.core_id, reason="CapacityError")

    def _cancel_now(self, rec: TrainingJobRecord) -> None:
        with self.cp.lock:
            job = self.cp.jobs.get((TENANT, rec.core_id))
            if job is not None and job.state in (S.PENDING, S.CREATING, S.RUNNING, S.IDLE):
                self.cp.cancel_job(TENANT, rec.core_id, reason=rec.stop_status or "stopped")

    def _recipe(self, channels: dict) -> dict | None:
        uri = channels.get("recipe", {}).get("DataSource", {}).get("S3DataSource", {}).get("S3Uri")
        data = self.store.read_prefix(uri) if uri else None
        if data is None:
            return None
        try:
            return yaml.safe_load(data)
        except yaml.YAMLError as e:
            raise ValidationException(f"The recipe channel is not valid YAML: {e}") from None

    def _resolve_model(self, b: dict, recipe: dict | None) -> tuple[HubModel, str, bool]:
        cfg = b.get("ServerlessJobConfig")
        if cfg:
            m = re.match(
                r"^arn:aws:sagemaker:[^:]+:[^:]*:hub-content/([^/]+)/Model/([^/]+)",
                cfg.get("BaseModelArn", ""),
            )
            if not m or m.group(2) not in self.models:
                raise ValidationException(
                    f"BaseModelArn {cfg.get('BaseModelArn')!r} is not a "
                    "model of the SageMakerPublicHub"
                )
            technique = cfg.get("CustomizationTechnique", "SFT")
            return self.models[m.group(2)], technique, bool(cfg.get("Peft"))
        tags = {t["Key"]: t["Value"] for t in b.get("Tags", [])}
        for ch in b.get("InputDataConfig", []):  # SMTJ: the hub's weights come as channel "model"
            if ch["ChannelName"] == "model":
                uri = ch["DataSource"]["S3DataSource"]["S3Uri"]
                for model_name in self.models:
                    if f"/models/{model_name}/" in uri:
                        tags.setdefault("sagemaker-sdk:jumpstart-model-id", model_name)
        name = tags.get("sagemaker-sdk:jumpstart-model-id")
        if name not in self.models:
            raise ValidationException(
                "drydock runs SageMaker training jobs only for models of "
                "its SageMakerPublicHub (no 'model' channel found)"
            )
        tc = (recipe or {}).get("training_config", {})
        technique = str(tc.get("technique", "SFT"))
        lora = "lora_rank" in tc.get("training_args", {})
        return self.models[name], technique, lora

    def _check_protected(self, hps: dict[str, str], recipe: dict | None) -> None:
        for key in PROTECTED_KEYS:
            if hps.get(key):
                raise ValidationException(
                    f"Protected key '{key}' (at {key}) cannot be overridden. "
                    f"Remove '{key}' from HyperParameters."
                )

    def effective_hyperparameters(self, rec: TrainingJobRecord) -> dict[str, float]:
        """Numbers the trainer uses: the wire HyperParameters (serverless) or the rendered
        recipe's training_args (SMTJ)."""
        raw: dict[str, Any] = dict(rec.hyperparameters)
        recipe = getattr(rec, "recipe", None)
        if recipe:
            raw.update((recipe.get("training_config") or {}).get("training_args") or {})
        out: dict[str, float] = {}
        for k, v in raw.items():
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                continue
        return out

    def reward_for(self, rec: TrainingJobRecord) -> RewardFn:
        ref = (rec.request.get("ServerlessJobConfig") or {}).get(
            "EvaluatorArn"
        ) or rec.hyperparameters.get("reward_lambda_arn", "")
        m = re.match(r"^arn:aws:sagemaker:[^:]+:[^:]*:hub-content/([^/]+)/([^/]+)/([^/]+)", ref)
        if m:  # an evaluator in a private hub: its document names the Lambda
            doc = (
                self.private_hubs.get(m.group(1), {})
                .get("contents", {})
                .get((m.group(2), m.group(3)), {})
                .get("HubContentDocument", "{}")
            )
            try:
                ref = json.loads(json.loads(doc).get("JsonContent", "{}")).get("Reference", ref)
            except (ValueError, AttributeError):
                pass
        for key, fn in self.rewards.items():
            if ref and (ref.endswith(":" + key) or ref.endswith("/" + key) or f"/{key}/" in ref):
                return fn
        return self.rewards["judge" if rec.technique == "RLAIF" else "exact_match"]

    def read_channel(self, rec: TrainingJobRecord, channel: str) -> bytes | None:
        for ch in rec.request.get("InputDataConfig", []):
            if ch["ChannelName"] == channel:
                uri = ch.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri")
                return self.store.read_prefix(uri) if uri else None
        return None

    def log_line(self, rec: TrainingJobRecord, message: str) -> None:
        if rec.log_stream is None:
            rec.log_stream = f"{rec.name}/algo-1-{int(rec.creation_time)}"
            self.store.new_stream("/aws/sagemaker/TrainingJobs", rec.log_stream)
        self.store.log(
            "/aws/sagemaker/TrainingJobs", rec.log_stream, int(self.cp.now() * 1000), message
        )

    def log_metrics(self, rec: TrainingJobRecord, metrics: dict, step: int) -> None:
        if self.metrics_sink is not None:
            self.metrics_sink(rec, metrics, step)

    def _get(self, name: str) -> TrainingJobRecord:
        rec = self.jobs.get(name)
        if rec is None:
            raise ResourceNotFound(f"Requested resource not found: TrainingJob {name} not found")
        return rec

    def op_DescribeTrainingJob(self, b: dict) -> dict:
        rec = self._get(b.get("TrainingJobName", ""))
        job = self.cp.jobs[(TENANT, rec.core_id)]
        primary = primary_status(rec, job.state)
        out = {k: v for k, v in rec.request.items() if k not in ("Tags",)}
        out.update(
            {
                "TrainingJobName": rec.name,
                "TrainingJobArn": rec.arn,
                "TrainingJobStatus": primary,
                "SecondaryStatus": rec.secondary,
                "SecondaryStatusTransitions": [dict(t) for t in rec.transitions],
                "CreationTime": rec.creation_time,
                "LastModifiedTime": rec.last_modified,
                "HyperParameters": rec.hyperparameters,
            }
        )
        out["ModelArtifacts"] = {
            "S3ModelArtifacts": rec.model_artifacts
            or f"{rec.output_path()}/{rec.name}/output/model.tar.gz"
        }
        if "StoppingCondition" not in out:
            out["StoppingCondition"] = {"MaxRuntimeInSeconds": 86400}
        if rec.training_start is not None:
            out["TrainingStartTime"] = rec.training_start
        if rec.training_end is not None:
            out["TrainingEndTime"] = rec.training_end
            out["TrainingTimeInSeconds"] = int(
                rec.training_end - (rec.training_start or rec.training_end)
            )
            out["BillableTimeInSeconds"] = out["TrainingTimeInSeconds"]
        if primary == "Failed":
            out["FailureReason"] = rec.failure_reason or "AlgorithmError: training failed"
        if rec.progress and primary == "InProgress" and rec.secondary == "Training":
            out["ProgressInfo"] = dict(rec.progress)
        if rec.output_model_package_arn:
            out["OutputModelPackageArn"] = rec.output_model_package_arn
        if job.restarts:
            out["RetryStrategy"] = {"MaximumRetryAttempts": self.max_restarts}
        return out

    def op_StopTrainingJob(self, b: dict) -> dict:
        rec = self._get(b.get("TrainingJobName", ""))
        job = self.cp.jobs[(TENANT, rec.core_id)]
        primary = primary_status(rec, job.state)
        if primary in PRIMARY_TERMINAL:
            raise ValidationException(
                f"The request was rejected because the training job is in status {primary}."
            )
        if primary == "Stopping":
            return {}
        rec.stop_requested = True
        if job.state == S.FAILED:  # interrupted: stop it as it comes back
            self._limit(rec, "Stopped")
            return {}
        self.cp.cancel_job(TENANT, rec.core_id, reason="stopped by the user")
        return {}

    def op_ListTrainingJobs(self, b: dict) -> dict:
        want = b.get("StatusEquals")
        contains = b.get("NameContains")
        rows = []
        for rec in sorted(self.jobs.values(), key=lambda r: -r.creation_time):
            status = primary_status(rec, self.cp.jobs[(TENANT, rec.core_id)].state)
            if (want and status != want) or (contains and contains not in rec.name):
                continue
            rows.append(
                {
                    "TrainingJobName": rec.name,
                    "TrainingJobArn": rec.arn,
                    "CreationTime": rec.creation_time,
                    "LastModifiedTime": rec.last_modified,
                    "TrainingJobStatus": status,
                    "SecondaryStatus": rec.secondary,
                }
            )
        limit = int(b.get("MaxResults", 100))
        return {"TrainingJobSummaries": rows[:limit]}


def _accelerator(b: dict) -> str:
    """The capacity pool a job draws from: its instance type, or "serverless"."""
    return (b.get("ResourceConfig") or {}).get("InstanceType") or "serverless"


def _failure_reason(job: Any, reason: str) -> str:
    code = getattr(job, "status_code", "")
    if code == "RESOURCE_EXHAUSTED" or "capacity" in reason.lower():
        return f"CapacityError: Unable to provision requested ML compute capacity. {reason}"
    if code == "UNAVAILABLE":
        return f"InternalServerError: {reason}"
    return f"AlgorithmError: {reason}"
