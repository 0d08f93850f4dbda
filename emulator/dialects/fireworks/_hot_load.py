"""Hot-load: `POST`/`GET /hot_load/v1/models/hot_load` (spec 5), served from the snapshot store.

The snapshot store is the control plane's checkpoint rows: a trainer's `save_weights_for_sampler`
records each snapshot under its requested name (kind INFERENCE_BASE / INFERENCE_LORA) with the
directory its weights were written to. A hot-load on deployment D reads
`(D.hotLoadTrainerJob, identity)` from it (the PER_TRAINER scope, spec 6.2).

A load finishes before the POST answers (the SDK's first status poll then sees it: no 5 s wait).
An unknown identity, a delta whose `previous_snapshot_identity` is not what the replica serves,
or a LoRA snapshot sent as a delta ends in `stage: "error"` with the identity as target, which
the SDK reports at once (spec 4.10).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from ..._openapi import json_body
from ...control_plane import ControlPlane, Job
from ...errors import InvalidArgument, Unavailable
from ...records import Account
from ...states import JobState
from ._sampling_runtime import ServingRuntime, SnapshotError
from .deployments import _Body, find_deployment, trainer_job_of
from .wire import parse_body

__all__ = ["hot_load_router", "HotLoadBody", "bearer_caller", "hot_load", "hot_load_faults"]

_DEP_RE = re.compile(r"^accounts/([^/]+)/deployments/([^/]+)$")
SNAPSHOT_KINDS = ("INFERENCE_BASE", "INFERENCE_LORA")


class _Incremental(_Body):
    previous_snapshot_identity: str = Field(min_length=1)
    compression_format: str | None = None
    checksum_format: str | None = None


class HotLoadBody(_Body):
    identity: str = Field(min_length=1)
    reset_prompt_cache: bool | None = None
    incremental_snapshot_metadata: _Incremental | None = None


def bearer_caller(request: Request) -> tuple[ControlPlane, Account]:
    """Authenticate by `X-Api-Key` or `Authorization: Bearer` (inference and hot-load send
    both)."""
    cp: ControlPlane = request.app.state.control_plane
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return cp, cp.authenticate(key)


def _target(request: Request) -> tuple[ControlPlane, Job]:
    cp, acct = bearer_caller(request)
    ref = request.headers.get("fireworks-deployment", "")
    m = _DEP_RE.match(ref)
    if not m:
        raise InvalidArgument(
            "the fireworks-deployment header must be accounts/<account>/deployments/<deployment>"
        )
    cp.authorize(acct, m.group(1))
    job = find_deployment(cp, m.group(1), m.group(2))
    model = request.headers.get("fireworks-model")
    base = job.payload["body"]["baseModel"]
    if model and model != base:
        raise InvalidArgument(
            f"fireworks-model {model!r} does not match the deployment's base model {base!r}"
        )
    return cp, job


def hot_load_faults(cp: ControlPlane, job: Job, identity: str) -> str | None:
    """The message of an injected hot-load failure for this load, if one fires."""
    for f in cp.faults:
        hook = getattr(f, "on_hot_load", None)
        if hook is not None and hook(cp.fault_host, job, identity):
            return getattr(f, "message", "injected hot-load failure")
    return None


def hot_load(cp: ControlPlane, runtime: ServingRuntime, job: Job, body: HotLoadBody) -> None:
    """Load `body.identity` into the deployment's replica; failures end in stage `error`."""
    rep = runtime.replica(job)
    if rep is None or job.state != JobState.RUNNING:
        raise Unavailable(f"deployment {job.payload['deploymentId']} has no ready replica")
    ident = body.identity
    rep.target, rep.stage, rep.error = ident, "loading", None

    def fail(message: str) -> None:
        rep.stage, rep.error = "error", message
        cp.log("deployment.hot_load_failed", job.account, job.id, identity=ident, error=message)

    inc = body.incremental_snapshot_metadata
    trainer = trainer_job_of(job)
    row = None
    if trainer is not None:
        row = cp.checkpoints.get(trainer, {}).get(ident)
    if (message := hot_load_faults(cp, job, ident)) is not None:
        return fail(message)
    if row is None or row.kind not in SNAPSHOT_KINDS or not row.location:
        where = f"trainer job {trainer[1]}" if trainer else "this deployment (no hotLoadTrainerJob)"
        return fail(f"snapshot {ident!r} not found for {where}")
    if inc is not None and row.kind == "INFERENCE_LORA":
        return fail(f"snapshot {ident!r} is a LoRA snapshot; it cannot be loaded as a delta")
    if inc is not None and inc.previous_snapshot_identity != rep.current:
        return fail(
            f"delta snapshot {ident!r} is based on "
            f"{inc.previous_snapshot_identity!r}, but the replica serves {rep.current!r}"
        )
    try:
        runtime.load(job, ident, row.location)
    except SnapshotError as exc:
        return fail(str(exc))
    rep.current, rep.stage = ident, "done"
    cp.log(
        "deployment.hot_loaded",
        job.account,
        job.id,
        identity=ident,
        delta=inc is not None,
        previous=inc.previous_snapshot_identity if inc else None,
    )


def _status(runtime: ServingRuntime, job: Job) -> dict:
    rep = runtime.replica(job)
    if rep is None or job.state != JobState.RUNNING:
        # The replica list is never empty while the deployment exists (the SDK waits 300 s on
        # an empty one): a booting replica reports not ready.
        return {
            "replicas": [
                {
                    "current_snapshot_identity": None,
                    "readiness": False,
                    "loading_state": {"stage": "pending", "target_snapshot_identity": None},
                }
            ]
        }
    return {"replicas": [{**rep.status(), **rdma_flags(runtime)}]}


def rdma_flags(runtime: object) -> dict:
    """The RDMA weight-sync capability both sides advertise (`FireworksDialect.rdma_weight_sync`,
    off by default: with it on, every base-model (non-LoRA) trainer and deployment of the
    emulator take the SDK's RDMA `weight_sync` path, which allows no FILE fallback)."""
    on = bool(getattr(runtime, "rdma_weight_sync", False))
    return {"supports_rdma_weight_sync": True, "rdma_weight_sync_enabled": True} if on else {}


def publish(
    cp: ControlPlane,
    runtime: ServingRuntime,
    trainer: tuple[str, str],
    deployment: str,
    identity: str,
) -> None:
    """Hot-load a trainer's just-saved snapshot into a deployment (an RDMA weight_sync's
    publication); a failure raises with the deployment's error."""
    m = re.match(r"^accounts/([^/]+)/deployments/([^/]+)$", deployment or "")
    if m is None:
        raise InvalidArgument(f"deployment {deployment!r} must be accounts/<a>/deployments/<id>")
    if m.group(1) != trainer[0]:
        raise InvalidArgument(f"deployment {deployment!r} belongs to another account")
    job = find_deployment(cp, m.group(1), m.group(2))
    if trainer_job_of(job) != trainer:
        raise InvalidArgument(
            f"deployment {deployment!r} does not hot-load from trainer job {trainer[1]}"
        )
    hot_load(cp, runtime, job, HotLoadBody(identity=identity))
    rep = runtime.replica(job)
    if rep is None or rep.stage != "done":
        raise Unavailable(f"weight_sync to {deployment}: {rep.error if rep else 'no replica'}")


def hot_load_router(serving: Callable[[ControlPlane], ServingRuntime]) -> APIRouter:
    """`serving(cp)` -> that control plane's ServingRuntime."""
    r = APIRouter(tags=["fireworks-hot-load"])

    @r.post(
        "/hot_load/v1/models/hot_load", name="hot_load.load", openapi_extra=json_body(HotLoadBody)
    )
    async def load(request: Request) -> JSONResponse:
        cp, job = _target(request)
        body = parse_body(await request.body(), HotLoadBody)
        with cp.lock:
            hot_load(cp, serving(cp), job, body)
        return JSONResponse({"identity": body.identity, "status": "accepted"})

    @r.get("/hot_load/v1/models/hot_load", name="hot_load.status")
    async def status(request: Request) -> JSONResponse:
        cp, job = _target(request)
        with cp.lock:
            return JSONResponse(_status(serving(cp), job))

    return r
