"""Fireworks deployments on the neutral core: what `DeploymentManager` (fireworks-ai 1.2.28 and
1.2.9) calls under `/v1/accounts/{a}/deployments`.

A deployment is a core job (so it queues for capacity with trainer jobs, goes through the same
state machine, faults and restart policy) tagged with its own job dialect `fireworks-deployments`
(so trainer-job routes never see it, and the core runs it on `ServingRuntime`, not a trainer).
Its core id is `deployment:<id>` (`deployment:<id>:<n>` for the n-th after hard deletes), which
no trainer job id (a DNS label) can be. The dialect keeps the wire body in `job.payload`.

Wire states are plain strings (`CREATING`, `READY`, `UPDATING`, `DELETING`, `FAILED`,
`DELETED`). A replica the core is restarting under the deployment's restart policy (a node
loss) reads `UPDATING`, as a rolling replica does, not `FAILED`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from drydock.wire.fireworks import WireInt

from ..._openapi import json_body
from ...clock import rfc3339
from ...control_plane import ControlPlane, Job, JobSpec, RestartPolicy
from ...errors import AlreadyExists, InvalidArgument, NotFound
from ...states import JobState
from .routes import authorized
from .wire import parse_body

if TYPE_CHECKING:
    from ._sampling_runtime import ServingRuntime

__all__ = [
    "DEPLOYMENT_DIALECT",
    "CreateDeploymentBody",
    "deployments_router",
    "deployment_to_wire",
    "find_deployment",
    "deployment_state",
    "trainer_job_of",
    "DEPLOYMENT_RESTART",
]

DEPLOYMENT_DIALECT = "fireworks-deployments"
S = JobState
_ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# A serving replica that dies comes back (on its base weights): many times, at once.
DEPLOYMENT_RESTART = RestartPolicy(mode="restart", max_restarts=1000)
_CAMEL = {
    "hot_load_trainer_job": "hotLoadTrainerJob",
    "hot_load_transition_type": "hotLoadTransitionType",
    "min_replica_count": "minReplicaCount",
    "max_replica_count": "maxReplicaCount",
    "description": "description",
    "display_name": "displayName",
    "annotations": "annotations",
    "extra_args": "extraArgs",
    "extra_values": "extraValues",
    "deployment_shape": "deploymentShape",
    "enable_hot_load": "enableHotLoad",
}


class _Body(BaseModel):
    """Strict, as the service's front end: unknown keys and wrong types are a 400."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _Placement(_Body):
    region: str | None = None


class CreateDeploymentBody(_Body):
    baseModel: str = Field(min_length=1)
    displayName: str | None = None
    description: str | None = None
    minReplicaCount: WireInt = Field(0, ge=0)
    maxReplicaCount: WireInt = Field(1, ge=0)
    enableHotLoad: bool = False
    forTraining: bool = False
    placement: _Placement | None = None
    hotLoadBucketType: str | None = None
    hotLoadTrainerJob: str | None = None
    hotLoadTransitionType: str | None = None
    deploymentShape: str | None = None
    acceleratorType: str | None = None
    acceleratorCount: WireInt | None = Field(None, ge=1)
    extraArgs: list[str] | None = None
    extraValues: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    preemptible: bool | None = None


class PatchDeploymentBody(_Body):
    displayName: str | None = None
    description: str | None = None
    minReplicaCount: WireInt | None = Field(None, ge=0)
    maxReplicaCount: WireInt | None = Field(None, ge=0)
    hotLoadTrainerJob: str | None = None
    hotLoadTransitionType: str | None = None
    annotations: dict[str, str] | None = None
    extraArgs: list[str] | None = None
    extraValues: dict[str, str] | None = None
    enableHotLoad: bool | None = None
    deploymentShape: str | None = None


# ---------------------------------------------------------------------- lookup
def _core_id(deployment_id: str, generation: int) -> str:
    return f"deployment:{deployment_id}" + (f":{generation}" if generation > 1 else "")


def _records(cp: ControlPlane, account: str, deployment_id: str) -> list[Job]:
    return [
        j
        for j in cp.list_jobs(account, DEPLOYMENT_DIALECT)
        if j.payload.get("deploymentId") == deployment_id
    ]


def find_deployment(cp: ControlPlane, account: str, deployment_id: str) -> Job:
    """The live deployment (not hard-deleted), or NotFound in the service's words."""
    for job in reversed(_records(cp, account, deployment_id)):
        if not job.payload.get("gone"):
            return job
    raise NotFound(f"deployment accounts/{account}/deployments/{deployment_id} not found")


def deployment_state(job: Job) -> str:
    st = job.state
    restarting = job.restart.mode != "none" and job.restarts > 0
    if st in (S.RUNNING, S.IDLE):
        return "READY"
    if st == S.PENDING or st == S.CREATING:
        return "UPDATING" if restarting else "CREATING"
    if st == S.FAILED:
        return (
            "UPDATING"
            if job.restarts < job.restart.max_restarts and job.restart.mode != "none"
            else "FAILED"
        )
    if st in (S.DELETING, S.CANCELLING):
        return "DELETING"
    if st in (S.DELETED, S.CANCELLED):
        return "DELETED"
    return "STATE_UNSPECIFIED"


def trainer_job_of(job: Job) -> tuple[str, str] | None:
    """(account, trainer job id) the deployment hot-loads from (`hotLoadTrainerJob`)."""
    ref = job.payload.get("body", {}).get("hotLoadTrainerJob") or ""
    m = re.match(r"^accounts/([^/]+)/rlorTrainerJobs/([^/]+)$", ref)
    return (m.group(1), m.group(2)) if m else None


def deployment_to_wire(job: Job) -> dict[str, Any]:
    body = dict(job.payload.get("body", {}))
    dep_id = job.payload["deploymentId"]
    body.update(
        {
            "name": f"accounts/{job.account}/deployments/{dep_id}",
            "state": deployment_state(job),
            "status": {"code": job.status_code, "message": job.status_message},
            "createTime": rfc3339(job.create_time),
            "updateTime": rfc3339(job.update_time),
            "acceleratorType": job.accelerator_type,
            "acceleratorCount": job.payload.get("perReplica", 1),
            "replicaCount": job.payload.get("replicas", 0),
            "region": job.region,
        }
    )
    if body.get("enableHotLoad"):
        body["hotLoadBucketUrl"] = f"gs://drydock-hot-load/{job.account}/deployments/{dep_id}/"
    return body


# ---------------------------------------------------------------------- placement
def _accelerators(
    cp: ControlPlane, body: CreateDeploymentBody, skip_shape_validation: bool
) -> tuple[str, int]:
    """(accelerator type, per-replica count) from the deployment shape (the training shape
    version that names it) or, without a shape, from the body."""
    if body.deploymentShape:
        want = body.deploymentShape.partition("/versions/")[0]
        for shape in cp.catalog.training_shapes:
            for v in shape.versions:
                if v.deployment_shape_version.partition("/versions/")[0] == want:
                    if (
                        not skip_shape_validation
                        and shape.base_model != body.baseModel
                        and body.baseModel not in cp.models
                    ):
                        raise InvalidArgument(
                            f"deployment shape {body.deploymentShape} is for base model "
                            f"{shape.base_model}, not {body.baseModel}"
                        )
                    return v.accelerator_type, v.accelerator_count
        if not any(d.name == want for d in cp.catalog.deployment_shapes):
            raise InvalidArgument(f"deployment shape {body.deploymentShape!r} not found")
    return body.acceleratorType or "NVIDIA_H200_141GB", body.acceleratorCount or 1


def _replicas(body: dict) -> int:
    lo, hi = body.get("minReplicaCount", 0), body.get("maxReplicaCount", 1)
    return 0 if hi == 0 else max(lo, 1)


def create_deployment(
    cp: ControlPlane,
    account: str,
    deployment_id: str,
    body: CreateDeploymentBody,
    *,
    skip_shape_validation: bool = False,
    accept_shapeless_risk: bool = False,
) -> Job:
    if not _ID_RE.match(deployment_id):
        raise InvalidArgument(
            f"invalid deployment id {deployment_id!r}: lowercase letters, "
            "digits and '-', at most 63 characters"
        )
    if accept_shapeless_risk and body.deploymentShape:
        raise InvalidArgument("acceptShapelessRisk cannot be combined with a deployment shape")
    if body.hotLoadTransitionType not in (None, "ASYNC", "SYNC"):
        raise InvalidArgument("hotLoadTransitionType must be ASYNC or SYNC")
    if body.minReplicaCount > body.maxReplicaCount:
        raise InvalidArgument("minReplicaCount must be <= maxReplicaCount")
    if body.hotLoadTrainerJob and not re.match(
        r"^accounts/[^/]+/rlorTrainerJobs/[^/]+$", body.hotLoadTrainerJob
    ):
        raise InvalidArgument("hotLoadTrainerJob must look like accounts/<a>/rlorTrainerJobs/<job>")
    acc_type, per_replica = _accelerators(cp, body, skip_shape_validation)
    with cp.lock:
        try:
            find_deployment(cp, account, deployment_id)
            raise AlreadyExists(
                f"deployment accounts/{account}/deployments/{deployment_id} already exists"
            )
        except NotFound:
            pass
        wire = body.model_dump(exclude_none=True)
        replicas = _replicas(wire)
        spec = JobSpec(
            base_model=body.baseModel,
            accelerator_type=acc_type,
            accelerator_count=per_replica * max(replicas, 1),
            region=body.placement.region if body.placement else None,
            display_name=body.displayName or "",
            preemptible=bool(body.preemptible),
        )
        generation = len(_records(cp, account, deployment_id)) + 1
        payload = {
            "kind": "deployment",
            "deploymentId": deployment_id,
            "body": wire,
            "perReplica": per_replica,
            "replicas": replicas,
        }
        job = cp.create_job(
            account,
            _core_id(deployment_id, generation),
            spec,
            payload,
            dialect=DEPLOYMENT_DIALECT,
            restart=DEPLOYMENT_RESTART,
        )
        cp.log(
            "deployment.created",
            account,
            job.id,
            deployment=deployment_id,
            trainer=body.hotLoadTrainerJob,
            shape=body.deploymentShape,
        )
        return job


def patch_deployment(
    cp: ControlPlane,
    account: str,
    deployment_id: str,
    raw: bytes,
    update_mask: str | None,
    on_trainer_change: Callable[[Job], None],
) -> Job:
    body = parse_body(raw, PatchDeploymentBody).model_dump(exclude_none=True)
    if update_mask:
        paths = [p.strip() for p in update_mask.split(",") if p.strip()]
        unknown = [p for p in paths if p not in _CAMEL and p not in _CAMEL.values()]
        if unknown:
            raise InvalidArgument(f"unknown update_mask paths {unknown}")
        keys = {_CAMEL.get(p, p) for p in paths}
        body = {k: v for k, v in body.items() if k in keys}
    with cp.lock:
        job = find_deployment(cp, account, deployment_id)
        if deployment_state(job) in ("DELETING", "DELETED"):
            raise NotFound(
                f"deployment accounts/{account}/deployments/{deployment_id} is being deleted"
            )
        wire = job.payload["body"]
        old_trainer = wire.get("hotLoadTrainerJob")
        merged = {**wire, **body}
        if merged.get("minReplicaCount", 0) > merged.get("maxReplicaCount", 1):
            raise InvalidArgument("minReplicaCount must be <= maxReplicaCount")
        wire.update(body)
        job.payload["replicas"] = _replicas(wire)
        # Scale to zero releases the accelerators (a scaled-up deployment takes them again).
        job.accelerators = job.payload["perReplica"] * job.payload["replicas"]
        job.update_time = cp.now()
        cp.log(
            "deployment.updated",
            account,
            job.id,
            fields=sorted(body),
            replicas=job.payload["replicas"],
        )
        if "hotLoadTrainerJob" in body and body["hotLoadTrainerJob"] != old_trainer:
            on_trainer_change(job)
        return job


def delete_deployment(cp: ControlPlane, account: str, deployment_id: str, hard: bool) -> Job:
    with cp.lock:
        job = find_deployment(cp, account, deployment_id)
        if job.state not in (S.DELETING, S.DELETED):
            cp.delete_job(account, job.id)
        if hard:  # gone at once for the API (the core finishes DELETING on its clock)
            job.payload["gone"] = True
        cp.log("deployment.deleted", account, job.id, hard=hard)
        return job


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def deployments_router(serving: Callable[[ControlPlane], ServingRuntime]) -> APIRouter:
    """`serving(cp)` -> that control plane's ServingRuntime (for reattach resets)."""
    r = APIRouter(tags=["fireworks-deployments"])

    @r.post(
        "/v1/accounts/{account}/deployments",
        name="deployments.create",
        openapi_extra=json_body(CreateDeploymentBody),
    )
    async def create(account: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        dep_id = request.query_params.get("deploymentId")
        if not dep_id:
            raise InvalidArgument("deploymentId is required")
        body = parse_body(await request.body(), CreateDeploymentBody)
        job = create_deployment(
            cp,
            account,
            dep_id,
            body,
            skip_shape_validation=_flag(request, "skipShapeValidation"),
            accept_shapeless_risk=_flag(request, "acceptShapelessRisk"),
        )
        return JSONResponse(deployment_to_wire(job))

    @r.get("/v1/accounts/{account}/deployments", name="deployments.list")
    async def list_(account: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        jobs = [j for j in cp.list_jobs(account, DEPLOYMENT_DIALECT) if not j.payload.get("gone")]
        return JSONResponse(
            {"deployments": [deployment_to_wire(j) for j in jobs], "totalSize": len(jobs)}
        )

    @r.get("/v1/accounts/{account}/deployments/{deployment_id}", name="deployments.get")
    async def get(account: str, deployment_id: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        return JSONResponse(deployment_to_wire(find_deployment(cp, account, deployment_id)))

    @r.patch(
        "/v1/accounts/{account}/deployments/{deployment_id}",
        name="deployments.update",
        openapi_extra=json_body(PatchDeploymentBody),
    )
    async def patch(account: str, deployment_id: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        job = patch_deployment(
            cp,
            account,
            deployment_id,
            await request.body(),
            request.query_params.get("updateMask"),
            lambda job: serving(cp).reset_to_base(job, "trainer re-attached"),
        )
        return JSONResponse(deployment_to_wire(job))

    @r.delete("/v1/accounts/{account}/deployments/{deployment_id}", name="deployments.delete")
    async def delete(account: str, deployment_id: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        delete_deployment(cp, account, deployment_id, hard=_flag(request, "hard"))
        return JSONResponse({})

    return r
