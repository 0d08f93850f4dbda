"""Control-plane REST for serverless training sessions: `accounts/<a>/trainingSessions/<ts>`
(GetTrainingSession, DeleteTrainingSession) and its checkpoints (ListTrainingSessionCheckpoints,
`:promote`), as `FireworksClient` calls them. Checkpoint rows are the core's rows of the
session's job; a promoted one is an ordinary model."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from drydock.wire.fireworks import PromoteBody, output_model_id_error

from ..._openapi import json_body
from ...clock import rfc3339
from ...control_plane import CheckpointRecord, ControlPlane
from ...errors import InvalidArgument, NotFound
from ...states import JobState
from ._serverless_sampling import drop_replica
from ._serverless_sessions import (
    Session,
    get_session,
    job_state,
    run_lora_rank,
    split_checkpoint_id,
)
from .routes import _page, authorized
from .wire import model_resource_name, model_to_wire, parse_body

__all__ = ["training_sessions_router"]

_BASE = "/v1/accounts/{account}/trainingSessions/{session_id}"


def _state(cp: ControlPlane, s: Session) -> str:
    if s.deleted:
        return "DELETED"
    state = job_state(cp, s)
    if state is None:
        return "ACTIVE"  # no model yet: holds no trainer
    return {JobState.PENDING: "QUEUED", JobState.RUNNING: "ACTIVE"}.get(state, state.value)


def _session_to_wire(cp: ControlPlane, s: Session) -> dict:
    out = {
        "name": s.name,
        "state": _state(cp, s),
        "createTime": rfc3339(s.create_time),
        "runs": [f"accounts/{s.account}/trainingRuns/{r}" for r in s.runs],
    }
    if s.base_model:
        out["baseModel"] = s.base_model
    return out


def _checkpoint_to_wire(s: Session, rec: CheckpointRecord) -> dict:
    out = {
        "name": f"{s.name}/checkpoints/{rec.name}",
        "createTime": rfc3339(rec.create_time),
        "updateTime": rfc3339(rec.update_time),
        "checkpointType": f"CHECKPOINT_TYPE_{rec.kind}",
        "promotable": rec.promotable,
        "step": rec.step,
    }
    run, name = split_checkpoint_id(rec.name)
    run = run or s.saved_by.get(rec.name)  # a save from before run-scoped ids
    if run is not None:  # the path load_state / create_training_client_from_state take
        out["checkpointPath"] = f"{s.account}/{run}/{name}"
    return out


def _rows(cp: ControlPlane, s: Session) -> list[CheckpointRecord]:
    if s.deleted:
        raise NotFound(f"training session {s.name} was deleted")
    if (s.account, s.id) not in cp.jobs:
        return []  # no model yet: nothing saved
    return cp.list_checkpoints(s.account, s.id)


def training_sessions_router() -> APIRouter:
    r = APIRouter(tags=["fireworks-serverless"])

    @r.get(_BASE, name="training_sessions.get")
    async def get(account: str, session_id: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        return JSONResponse(_session_to_wire(cp, get_session(cp, account, session_id)))

    @r.delete(_BASE, name="training_sessions.delete")
    async def delete(account: str, session_id: str, request: Request) -> JSONResponse:
        """Idempotent: a deleted session deletes again; its pool slot frees at once."""
        cp = authorized(request, account)
        s = get_session(cp, account, session_id)
        with cp.lock:
            if not s.deleted:
                s.deleted = True
                cp.log("serverless.session_deleted", account, s.id)
                job = cp.jobs.get((account, s.id))
                if job is not None:
                    job.payload["deleted"] = True
                if job is not None and job.state not in (JobState.DELETING, JobState.DELETED):
                    cp.delete_job(account, s.id)
        drop_replica(cp, account, s.id)
        return JSONResponse({})

    @r.get(f"{_BASE}/checkpoints", name="training_sessions.checkpoints.list")
    async def list_checkpoints(account: str, session_id: str, request: Request) -> JSONResponse:
        cp = authorized(request, account)
        s = get_session(cp, account, session_id)
        page, nxt = _page(_rows(cp, s), request, default_size=200)
        out: dict = {"trainingSessionCheckpoints": [_checkpoint_to_wire(s, c) for c in page]}
        if nxt:
            out["nextPageToken"] = nxt
        return JSONResponse(out)

    @r.post(
        f"{_BASE}/checkpoints/{{ckpt_verb}}",
        name="training_sessions.checkpoints.promote",
        openapi_extra=json_body(PromoteBody),
    )
    async def promote(
        account: str, session_id: str, ckpt_verb: str, request: Request
    ) -> JSONResponse:
        cp = authorized(request, account)
        checkpoint_id, _, verb = ckpt_verb.partition(":")
        if verb != "promote":
            raise NotFound(f"unknown method {ckpt_verb!r}; expected <checkpoint>:promote")
        s = get_session(cp, account, session_id)
        body = parse_body(await request.body(), PromoteBody)
        prefix = f"accounts/{account}/models/"
        if not body.output_model.startswith(prefix):
            raise InvalidArgument(f"output_model must look like {prefix}<model-id>")
        model_id = body.output_model[len(prefix) :]
        if problem := output_model_id_error(model_id):
            raise InvalidArgument(problem)
        if checkpoint_id not in {c.name for c in _rows(cp, s)}:
            raise NotFound(f"checkpoint {s.name}/checkpoints/{checkpoint_id} not found")
        rec = cp.promote_checkpoint(
            account,
            checkpoint_id,
            model_id,
            body.base_model,
            s.id,
            model_name=model_resource_name(account, model_id),
            lora_rank=run_lora_rank(s, split_checkpoint_id(checkpoint_id)[0]),
        )
        return JSONResponse({"model": model_to_wire(rec, cp)})

    return r
