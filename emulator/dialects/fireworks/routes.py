"""Fireworks control-plane routes: what `TrainerJobManager` (fireworks-ai 1.2.28 and 1.2.9) calls.

Each route authenticates by `X-Api-Key`, translates the wire form to a ControlPlane call and
back. Route names (`jobs.create`, ...) are what HTTP faults match on.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from drydock.wire.fireworks import MODEL_ID_RE, job_id_error, output_model_id_error, shape_ref_error

from ..._openapi import json_body
from ...control_plane import Account, ControlPlane, Job
from ...errors import InvalidArgument, NotFound
from .wire import (
    CreateJobBody,
    PromoteBody,
    base_model_to_wire,
    checkpoint_to_wire,
    job_to_wire,
    model_resource_name,
    model_to_wire,
    parse_body,
    shape_version_to_wire,
    spec_from_body,
)

DIALECT = "fireworks"

__all__ = ["control_plane_router", "caller", "authorized"]


def caller(request: Request) -> Account:
    cp: ControlPlane = request.app.state.control_plane
    return cp.authenticate(request.headers.get("x-api-key"))


def _ok(body: dict) -> JSONResponse:
    """A 200 JSON response, skipping FastAPI's jsonable_encoder walk: our bodies are plain JSON
    already, and that walk was a fifth of a job GET's server time."""
    return JSONResponse(body)


def authorized(request: Request, account: str, *, public_read: bool = False) -> ControlPlane:
    """Authenticate the caller and check it may use `account`; the current control plane."""
    cp: ControlPlane = request.app.state.control_plane
    cp.authorize(caller(request), account, public_read=public_read)
    return cp


def _job(cp: ControlPlane, account: str, job_id: str) -> Job:
    """A Fireworks job; a malformed id is 400, not 404."""
    if problem := job_id_error(job_id):
        raise InvalidArgument(problem)
    return cp.get_job(account, job_id, DIALECT)


MAX_PAGE_SIZE = 1000  # AIP-158: larger pageSize values are coerced down to this


def _token(key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _page(
    items: list,
    request: Request,
    default_size: int = 50,
    key: Callable[[int, Any], tuple] = lambda i, _: (i,),
) -> tuple[list, str]:
    """AIP-158 paging: `pageSize` (0 or absent: the default; over 1000: 1000; negative: 400) and
    an opaque `pageToken` from the previous page's `nextPageToken`. `items` are in `key` order;
    the token holds the last returned item's key and the next page starts after it, so nothing
    is skipped or repeated when items before it leave the list (deleted jobs are dropped after
    their retention). The default key is the position, for lists that never shrink."""
    raw_size = request.query_params.get("pageSize") or "0"
    try:
        size = int(raw_size)
    except ValueError:
        raise InvalidArgument(f"pageSize must be an integer, got {raw_size!r}") from None
    if size < 0:
        raise InvalidArgument(f"pageSize must be >= 0, got {size}")
    size = min(size or default_size, MAX_PAGE_SIZE)
    keys = [key(i, item) for i, item in enumerate(items)]
    start = 0
    if token := request.query_params.get("pageToken"):
        try:
            after = tuple(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))))
            start = bisect.bisect_right(keys, after)
        except (ValueError, TypeError, UnicodeDecodeError):
            raise InvalidArgument(f"invalid pageToken {token[:64]!r}") from None
    page = items[start : start + size]
    nxt = _token(keys[start + len(page) - 1]) if start + size < len(items) else ""
    return page, nxt


def control_plane_router() -> APIRouter:
    r = APIRouter(tags=["fireworks"])

    @r.get("/v1/accounts", name="accounts.list")
    async def list_accounts(request: Request):
        acct = caller(request)
        return _ok(
            {
                "accounts": [
                    {
                        "name": f"accounts/{acct.id}",
                        "displayName": acct.display_name or acct.id,
                        "state": "READY",
                    }
                ],
                "totalSize": 1,
            }
        )

    @r.get("/v1/accounts/{account}", name="accounts.get")
    async def get_account(account: str, request: Request):
        acct = caller(request)
        request.app.state.control_plane.authorize(acct, account)
        return {
            "name": f"accounts/{acct.id}",
            "displayName": acct.display_name or acct.id,
            "state": "READY",
        }

    @r.post(
        "/v1/accounts/{account}/rlorTrainerJobs",
        name="jobs.create",
        openapi_extra=json_body(CreateJobBody),
    )
    async def create_job(account: str, request: Request):
        cp = authorized(request, account)
        body = parse_body(await request.body(), CreateJobBody)
        q = request.query_params
        skip = q.get("skipValidations", "false").lower() == "true"
        shape = q.get("trainingShape") or None
        job_id = q.get("rlorTrainerJobId") or None
        spec = spec_from_body(body, shape, skip, job_id)
        job = cp.create_job(
            account,
            job_id,
            spec,
            {"body": body.model_dump(exclude_none=True)},
            dialect=DIALECT,
            render=job_to_wire,
        )
        return _ok(job_to_wire(job))

    @r.get("/v1/accounts/{account}/rlorTrainerJobs", name="jobs.list")
    async def list_jobs(account: str, request: Request):
        cp = authorized(request, account)
        jobs = sorted(cp.list_jobs(account, DIALECT), key=lambda j: (j.create_time, j.id))
        page, nxt = _page(jobs, request, key=lambda _, j: (j.create_time, j.id))
        out = {"rlorTrainerJobs": [job_to_wire(j) for j in page], "totalSize": len(jobs)}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    @r.get("/v1/accounts/{account}/rlorTrainerJobs/{job_id}", name="jobs.get")
    async def get_job(account: str, job_id: str, request: Request):
        cp = authorized(request, account)
        return _ok(job_to_wire(_job(cp, account, job_id)))

    @r.delete("/v1/accounts/{account}/rlorTrainerJobs/{job_id}", name="jobs.delete")
    async def delete_job(account: str, job_id: str, request: Request):
        cp = authorized(request, account)
        _job(cp, account, job_id)
        cp.delete_job(account, job_id)
        return {}

    # `{job_id}` is `<job>:resume` here: one OpenAPI path with the job's GET and DELETE, so a
    # 405's Allow header and the schema list the same methods.
    @r.post("/v1/accounts/{account}/rlorTrainerJobs/{job_id}", name="jobs.resume")
    async def job_verb(account: str, job_id: str, request: Request):
        cp = authorized(request, account)
        job_verb = job_id
        job_id, _, verb = job_verb.partition(":")
        if verb in ("resume", "cancel"):
            _job(cp, account, job_id)
        if verb == "resume":
            return _ok(job_to_wire(cp.resume_job(account, job_id)))
        if verb == "cancel":
            return _ok(job_to_wire(cp.cancel_job(account, job_id)))
        raise NotFound(f"unknown method {job_verb!r}; expected <job>:resume or <job>:cancel")

    @r.get("/v1/accounts/{account}/rlorTrainerJobs/{job_id}/checkpoints", name="checkpoints.list")
    async def list_checkpoints(account: str, job_id: str, request: Request):
        cp = authorized(request, account)
        _job(cp, account, job_id)
        page, nxt = _page(cp.list_checkpoints(account, job_id), request, default_size=200)
        out: dict = {"checkpoints": [checkpoint_to_wire(c) for c in page]}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    @r.post(
        "/v1/accounts/{account}/checkpoints/{ckpt_verb}",
        name="checkpoints.promote",
        openapi_extra=json_body(PromoteBody),
    )
    async def promote(account: str, ckpt_verb: str, request: Request):
        cp = authorized(request, account)
        checkpoint_id, _, verb = ckpt_verb.partition(":")
        if verb != "promote":
            raise NotFound(f"unknown method {ckpt_verb!r}; expected <checkpoint>:promote")
        body = parse_body(await request.body(), PromoteBody)
        prefix = f"accounts/{account}/models/"
        if not body.output_model.startswith(prefix):
            raise InvalidArgument(f"output_model must look like {prefix}<model-id>")
        job_id = None
        if body.trainer_job_id:
            jprefix = f"accounts/{account}/rlorTrainerJobs/"
            if not body.trainer_job_id.startswith(jprefix):
                raise InvalidArgument(f"trainer_job_id must look like {jprefix}<job-id>")
            job_id = body.trainer_job_id[len(jprefix) :]
        model_id = body.output_model[len(prefix) :]
        if problem := output_model_id_error(model_id):
            raise InvalidArgument(problem)
        if job_id is not None:
            _job(cp, account, job_id)
        try:
            rec = cp.promote_checkpoint(
                account,
                checkpoint_id,
                model_id,
                body.base_model,
                job_id,
                model_name=model_resource_name(account, model_id),
            )
        except NotFound as exc:
            if "checkpoint" in exc.message:  # the service's own naming
                raise NotFound(
                    f"checkpoint accounts/{account}/checkpoints/{checkpoint_id} not found"
                ) from None
            raise
        model = model_to_wire(rec, cp)
        if body.async_promotion:
            op = f"accounts/{account}/operations/promote-{rec.id}"
            return {
                "operation": {
                    "name": op,
                    "done": True,
                    "response": {"@type": "type.googleapis.com/gateway.Model", **model},
                },
                "model": model,
            }
        return {"model": model}

    @r.get("/v1/accounts/{account}/models/{model_id}", name="models.get")
    async def get_model(account: str, model_id: str, request: Request):
        cp = authorized(request, account, public_read=True)
        name = f"accounts/{account}/models/{model_id}"
        rec = cp.models.get(name)
        if rec is not None:
            return model_to_wire(rec, cp)
        if not MODEL_ID_RE.match(model_id) and "." not in model_id:
            raise InvalidArgument(f"invalid model id {model_id!r}")
        return base_model_to_wire(name, cp)

    @r.get("/v1/accounts/{account}/trainingShapes/{shape_id}", name="shapes.get")
    async def get_shape(account: str, shape_id: str, request: Request):
        cp = authorized(request, account, public_read=True)
        shape, _ = cp.catalog.shape(f"accounts/{account}/trainingShapes/{shape_id}")
        latest = shape.latest_validated()
        return {
            "name": shape.name,
            "baseModel": shape.base_model,
            "latestValidatedVersion": f"{shape.name}/versions/{latest.version}" if latest else "",
        }

    @r.get("/v1/accounts/{account}/trainingShapes/{shape_id}/versions", name="shapes.versions.list")
    async def list_shape_versions(account: str, shape_id: str, request: Request):
        cp = authorized(request, account, public_read=True)
        shape, _ = cp.catalog.shape(f"accounts/{account}/trainingShapes/{shape_id}")
        flt = unquote(request.query_params.get("filter", "")).replace(" ", "")
        versions = shape.versions
        if flt in ("latest_validated=true", "latestValidated=true"):
            versions = [v for v in versions if v.latest_validated]
        elif flt:
            raise InvalidArgument(f"unsupported filter {flt!r}; supported: latest_validated=true")
        page, nxt = _page(list(reversed(versions)), request)
        out: dict = {"trainingShapeVersions": [shape_version_to_wire(shape, v) for v in page]}
        if nxt:
            out["nextPageToken"] = nxt
        return out

    @r.get(
        "/v1/accounts/{account}/trainingShapes/{shape_id}/versions/{version}",
        name="shapes.versions.get",
    )
    async def get_shape_version(account: str, shape_id: str, version: str, request: Request):
        cp = authorized(request, account, public_read=True)
        ref = f"accounts/{account}/trainingShapes/{shape_id}/versions/{version}"
        if shape_ref_error(ref):
            raise InvalidArgument(f"invalid training shape version name {ref!r}")
        shape, v = cp.catalog.shape(ref)
        assert v is not None  # a `/versions/` ref: shape() returns its version or raises
        return shape_version_to_wire(shape, v)

    @r.get("/training/v1/rlorTrainerJobs/{account}/{job_id}/api/v1/healthz", name="gateway.healthz")
    async def healthz(account: str, job_id: str, request: Request):
        cp = authorized(request, account)
        # May wait for a booting trainer: off the event loop, so other requests go on.
        if await run_in_threadpool(cp.trainer_healthy, account, job_id):
            return _ok({"status": "ok"})
        return JSONResponse(
            {"code": 14, "message": f"trainer for job {job_id} is not ready"}, status_code=503
        )

    return r
