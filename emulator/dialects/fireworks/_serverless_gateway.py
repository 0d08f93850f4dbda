"""The serverless trainer gateway: `/training/v1/serverless/api/v1/<op>`.

The same Tinker futures protocol as a dedicated job's gateway (`trainer_routes.py`), addressed
by session instead of by job: the caller's account comes from its API key, a model id names its
run (`run-<hex>:train:<seq>`) and so its session, and a request id carries its session
(`<ts>:<gateway id>`). Each session's core job has the ordinary `TinkerGateway`; this module only
finds it and maps names. A `create_model` is answered at retrieve time: 409 with a capacity
marker while the session waits in its pool (what the SDK's opted-in supervised retry backs off
on), `try_again` while its trainer starts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...control_plane import ControlPlane, Job
from ...errors import InvalidArgument, NotFound, Unavailable
from ...states import JobState
from ._serverless_sessions import (
    SESSION_DIALECT,
    PendingModel,
    Session,
    bind_job,
    checkpoint_id,
    find_saved,
    get_session,
    new_run,
    new_session,
    run_lora_rank,
    run_of,
    sessions_of,
    trainer_ref,
)
from .routes import caller
from .tinker import REJECTED, FutureRecord, TinkerGateway
from .tinker.gateway import THEN
from .trainer_routes import (
    CLIENT_CONFIG,
    TRAINING_OPS,
    _body,
    _json,
    _require,
    future_answer,
    model_info,
)
from .trainer_routes import gateway_of as _gateway_of

__all__ = ["serverless_router", "PREFIX"]

PREFIX = "/training/v1/serverless/api/v1"


def _who(request: Request) -> tuple[ControlPlane, str]:
    cp: ControlPlane = request.app.state.control_plane
    return cp, caller(request).id


def _open(cp: ControlPlane, account: str, session_id: Any) -> Session:
    if not isinstance(session_id, str):
        raise InvalidArgument("'session_id' is required and must be a string")
    s = get_session(cp, account, session_id)
    if s.deleted:
        raise NotFound(f"training session {s.name} was deleted")
    return s


def _session_of_model(cp: ControlPlane, account: str, model_id: str) -> Session:
    run = run_of(model_id)
    for s in sessions_of(cp).values():
        if s.account == account and (
            (run is not None and run in s.runs) or model_id.startswith(s.id + ":")
        ):
            if s.deleted:
                raise NotFound(f"training session {s.name} was deleted")
            return s
    raise NotFound(f"model {model_id!r} not found")


def _live(cp: ControlPlane, s: Session) -> tuple[Job, TinkerGateway]:
    job = cp.get_job(s.account, s.id, SESSION_DIALECT)
    cp.touch(s.account, s.id)
    gw = _gateway_of(cp, s.account, s.id) if job.state == JobState.RUNNING else None
    if gw is None:
        raise Unavailable(
            f"the trainer of training session {s.id} is not running (session is "
            f"{job.state.value if job.state else 'unknown'})"
        )
    return job, gw


async def _gw_session(cp: ControlPlane, s: Session, job: Job, gw: TinkerGateway) -> str:
    """The session's gateway session on the trainer's current incarnation."""
    inc = gw.runner.live
    number = inc.number if inc is not None else -1
    if s.gw_session is None or s.gw_session[0] != number:
        wait_s = getattr(cp.runtime_of(job), "ready_wait_s", 0.0)
        s.gw_session = (number, await run_in_threadpool(gw.create_session, wait_s))
    return s.gw_session[1]


def _shown(s: Session, rec: FutureRecord) -> Response:
    out = {"request_id": f"{s.id}:{rec.request_id}"}
    if rec.model_id is not None:
        out["model_id"] = rec.model_id
    return _json(out)


def _capacity_409(cp: ControlPlane, s: Session, job: Job) -> Response:
    """The pool is full: what the SDK's supervised capacity retry backs off on (a 409 whose
    message carries `capacity_exhausted`); without the opt-in the SDK raises it."""
    waiting = sum(
        1
        for j in cp.jobs.values()
        if j.state == JobState.PENDING and j.accelerator_type == job.accelerator_type
    )
    message = (
        f"serverless training capacity for {s.base_model} is exhausted (capacity_exhausted): "
        f"training session {s.id} is queued for a trainer ({waiting} session(s) waiting)"
    )
    return _json({"code": 10, "message": message, "details": []}, 409)


def _failed(message: str) -> Response:
    return _json({"error": message, "category": "server"})


async def _retrieve_create(
    cp: ControlPlane, s: Session, rid: str, p: PendingModel
) -> Response | str:
    """A create_model not yet submitted: its answer now, or the gateway's request id."""
    job = cp.get_job(s.account, s.id, SESSION_DIALECT)
    if job.state == JobState.PENDING:
        return _capacity_409(cp, s, job)
    if job.state in (JobState.DELETING, JobState.DELETED):
        return _failed(f"training session {s.name} was deleted")
    if job.state == JobState.FAILED:
        return _failed(f"training session {s.id} failed: {job.status_message}")
    if job.state != JobState.RUNNING:
        return _json({"type": "try_again", "request_id": rid, "queue_state": "active"})
    job, gw = _live(cp, s)
    sid = await _gw_session(cp, s, job, gw)
    # Keyed by the model's number in the session, so each run of the session is its own model.
    rec = gw.create_model(sid, p.number, p.rank, p.seed, p.alpha, p.answer, model_id=p.model_id)
    p.request_id = rec.request_id
    return rec.request_id


def _save_args(s: Session, model_id: str, args: dict | None) -> dict | None:
    """A run's save is stored as `<run>.<name>` (its own, whatever other runs save) and
    answers the SDK's path `<account>/<run>/<name>`."""
    run = run_of(model_id)
    if args is None or run is None or REJECTED in args:
        return args
    name = args["name"]

    def then(body: dict, _payload: dict) -> dict:
        return {**body, "path": f"{s.account}/{run}/{name}"}

    return {**args, "name": checkpoint_id(run, name), THEN: then}


def _load_args(cp: ControlPlane, s: Session, model_id: str, args: dict | None) -> dict | None:
    if args is None:
        return None
    path = args["ref"]
    try:
        ref = trainer_ref(cp, s, path, run_of(model_id))
    except (NotFound, InvalidArgument) as e:
        return {REJECTED: e.message}

    def then(body: dict, _payload: dict) -> dict:
        return {**body, "path": path}

    return {**args, "ref": ref, THEN: then}


def serverless_router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["fireworks-serverless"])

    @r.post("/client/config", name="serverless.client_config")
    async def client_config(request: Request) -> Response:
        _who(request)
        return _json(CLIENT_CONFIG)

    @r.post("/create_session", name="serverless.create_session")
    async def create_session(request: Request) -> Response:
        cp, account = _who(request)
        await _body(request)
        return _json({"session_id": new_session(cp, account).id})

    @r.post("/session_heartbeat", name="serverless.heartbeat")
    async def heartbeat(request: Request) -> Response:
        cp, account = _who(request)
        _open(cp, account, (await _body(request)).get("session_id"))
        return _json({"type": "session_heartbeat"})

    @r.post("/telemetry", name="serverless.telemetry")
    async def telemetry(request: Request) -> Response:
        _who(request)
        await request.body()
        return _json({"status": "accepted"})

    @r.post("/create_model", name="serverless.create_model")
    async def create_model(request: Request) -> Response:
        cp, account = _who(request)
        body = await _body(request)
        s = _open(cp, account, body.get("session_id"))
        base = body.get("base_model")
        if not isinstance(base, str) or not base:
            raise InvalidArgument("'base_model' is required and must be a string")
        lora = body.get("lora_config") or {}
        lora = lora if isinstance(lora, dict) else {}
        rank = int(lora.get("rank", 0) or 0)
        base_only = bool(body.get("base_only"))
        bind_job(cp, s, base, 0 if base_only else rank)
        seq = body.get("model_seq_id", 0)
        with cp.lock:
            for rid, p in s.pending.items():  # a retried create_model: the same future
                if p.seq == seq:
                    return _json({"request_id": rid, "model_id": p.model_id})
            model_id = f"{s.id}:base:{seq}" if base_only else f"{new_run(cp, s, rank)}:train:{seq}"
            s.n += 1
            rid = f"{s.id}:create-{s.n}"
            s.pending[rid] = PendingModel(
                model_id,
                seq,
                0 if base_only else rank,
                int(lora.get("seed") or 0),
                lora.get("alpha") if rank else None,
                {},
                number=s.n,
            )
        return _json({"request_id": rid, "model_id": model_id})

    @r.post("/get_info", name="serverless.get_info")
    async def get_info(request: Request) -> Response:
        cp, account = _who(request)
        model_id = str((await _body(request)).get("model_id"))
        s = _session_of_model(cp, account, model_id)
        _, gw = _live(cp, s)
        m = gw.model(model_id)
        return _json(model_info(m.model_id, m.lora_rank, s.base_model))

    @r.post("/weights_info", name="serverless.weights_info")
    async def weights_info(request: Request) -> Response:
        """What `create_training_client_from_state` needs to rebuild the run's model."""
        cp, account = _who(request)
        path = _require(await _body(request), "tinker_path", str)
        try:
            owner, _ = find_saved(cp, None, account, path)
        except InvalidArgument:
            raise NotFound(f"checkpoint {path!r} not found") from None
        rank = run_lora_rank(owner, path.split("/")[1])  # the run's own rank
        return _json(
            {"base_model": owner.base_model, "is_lora": rank > 0, "lora_rank": rank or None}
        )

    def _sequenced(wire_op: str, parse: Any) -> None:
        async def handler(request: Request) -> Response:
            cp, account = _who(request)
            body = await _body(request)
            model_id = _require(body, "model_id", str)
            s = _session_of_model(cp, account, model_id)
            _, gw = _live(cp, s)
            args, error = parse(body)
            if wire_op.startswith("save_"):
                args = _save_args(s, model_id, args)
            elif wire_op == "load_weights":
                args = _load_args(cp, s, model_id, args)
            return _shown(s, gw.submit(wire_op, model_id, body.get("seq_id"), args or {}, error))

        handler.__name__ = f"serverless_{wire_op}"
        r.add_api_route(f"/{wire_op}", handler, methods=["POST"], name=f"serverless.{wire_op}")

    for wire_op, parse in TRAINING_OPS.items():
        _sequenced(wire_op, parse)

    @r.post("/unload_model", name="serverless.unload_model")
    async def unload_model(request: Request) -> Response:
        cp, account = _who(request)
        model_id = _require(await _body(request), "model_id", str)
        s = _session_of_model(cp, account, model_id)
        _, gw = _live(cp, s)
        return _shown(s, gw.unload(model_id))

    @r.post("/retrieve_future", name="serverless.retrieve_future")
    async def retrieve_future(request: Request) -> Response:
        cp, account = _who(request)
        rid = _require(await _body(request), "request_id", str)
        session_id, _, internal = rid.partition(":")
        s = get_session(cp, account, session_id)
        p = s.pending.get(rid)
        if p is not None:
            if p.request_id is None:
                answer = await _retrieve_create(cp, s, rid, p)
                if isinstance(answer, Response):
                    return answer
            internal = p.request_id or internal
        job = cp.get_job(account, s.id, SESSION_DIALECT)
        cp.touch(account, s.id)
        gw = _gateway_of(cp, account, s.id)
        if gw is None:
            raise NotFound(f"request {rid!r} not found in training session {s.id}")
        poll_s = getattr(cp.runtime_of(job), "poll_timeout_s", 10.0)
        return await future_answer(gw, internal, poll_s, shown_id=rid)

    return r
