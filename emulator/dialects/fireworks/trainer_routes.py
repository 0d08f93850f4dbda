"""Trainer-gateway routes: the Tinker futures protocol of the Fireworks training client.

Paths are `/training/v1/rlorTrainerJobs/{account}/{job_id}/api/v1/<op>` (healthz lives with the
control-plane routes). Each call authenticates by `x-api-key`, touches the job's idle timer and
hands the op to the job's `TinkerGateway` (`tinker/`), which drives the runtime's `JobRunner` for
the job. Submits answer at once with a future handle; `retrieve_future` long-polls. Mounted by
`FireworksDialect.routers()`; with a runtime that runs no trainer (no `runner`) the routes
answer 503.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...control_plane import ControlPlane, Job
from ...errors import InvalidArgument, NotFound, Unavailable
from ._hot_load import publish, rdma_flags
from ._sampling_runtime import ServingRuntime
from .deployments import DEPLOYMENT_DIALECT
from .routes import authorized
from .tinker import REJECTED, FutureRecord, Gone, TinkerGateway
from .tinker.datums import parse_datums
from .tinker.gateway import THEN

__all__ = ["trainer_router", "gateway_of", "future_answer"]

PREFIX = "/training/v1/rlorTrainerJobs/{account}/{job_id}/api/v1"

try:
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - orjson ships with the SDK extras

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()


def _json(obj: Any, status: int = 200) -> Response:
    return Response(_dumps(obj), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise InvalidArgument("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgument("request body must be a JSON object")
    return body


def gateway_of(cp: Any, account: str, job_id: str) -> TinkerGateway | None:
    """The job's Tinker gateway, kept with its runtime's runner of the job (None: the runtime
    runs no trainer for it). A new runner (the plane was rebuilt) starts a new gateway."""
    runtime = cp.runtime_of(cp.get_job(account, job_id))
    runner_of = getattr(runtime, "runner", None)
    runner = runner_of(account, job_id) if runner_of is not None else None
    if runner is None:
        return None
    with cp.lock:
        gw = runner.attachments.get("tinker")
        if gw is None:
            gw = runner.attachments["tinker"] = TinkerGateway(
                runner, cp.lock, gap_timeout_s=getattr(runtime, "gap_timeout_s", 60.0)
            )
        return gw


def _enter(request: Request, account: str, job_id: str) -> tuple[ControlPlane, Job, TinkerGateway]:
    """Auth, idle touch, the job's gateway (or a typed error)."""
    cp = authorized(request, account)
    job = cp.get_job(account, job_id, "fireworks")
    cp.touch(account, job_id)
    if getattr(cp.runtime_of(job), "runner", None) is None:
        raise Unavailable(
            "this emulator has no trainer runtime (start it with the torch runtime, "
            "e.g. Emulator(runtime=drydock.trainer.thread_runtime()))"
        )
    gw = gateway_of(cp, account, job_id)
    if gw is None:
        raise Unavailable(
            f"the trainer of job {job_id} is not running (job is "
            f"{job.state.value if job.state else 'unknown'})"
        )
    return cp, job, gw


def _require(body: dict, key: str, kind: type | tuple) -> Any:
    val = body.get(key)
    if not isinstance(val, kind) or isinstance(val, bool) and kind is int:
        raise InvalidArgument(f"{key!r} is required and must be {getattr(kind, '__name__', kind)}")
    return val


def _future(rec: FutureRecord) -> Response:
    out = {"request_id": rec.request_id}
    if rec.model_id is not None:
        out["model_id"] = rec.model_id
    return _json(out)


def _fb_args(body: dict, key: str) -> tuple[dict | None, Exception | None]:
    inp = body.get(key)
    if not isinstance(inp, dict):
        return None, InvalidArgument(f"{key!r} is required and must be an object")
    data, loss_fn = inp.get("data"), inp.get("loss_fn")
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        return None, InvalidArgument(f"{key}.data must be a list of Datum objects")
    if not isinstance(loss_fn, str):
        return None, InvalidArgument(f"{key}.loss_fn must be a string")
    cfg = inp.get("loss_fn_config")
    if cfg is not None and not isinstance(cfg, dict):
        return None, InvalidArgument(f"{key}.loss_fn_config must be an object")
    try:  # a bad datum fails the op's future ("user"), in its turn, not the submit
        embedding = cfg is not None and "output" in cfg
        return {
            "data": parse_datums(data, embedding=embedding),
            "loss_fn": loss_fn,
            "loss_fn_config": cfg,
        }, None
    except InvalidArgument as e:
        return {REJECTED: e.message}, None


def _optim(b: dict) -> tuple[dict | None, Exception | None]:
    adam = b.get("adam_params")
    if not isinstance(adam, dict):
        return None, InvalidArgument("'adam_params' is required and must be an object")
    return {
        "adam_params": adam,
        "grad_accumulation_normalization": b.get("grad_accumulation_normalization"),
    }, None


def _path(b: dict, extra: Callable[[dict, str], dict]) -> tuple[dict | None, Exception | None]:
    path = b.get("path")
    if not isinstance(path, str) or not path:
        return None, InvalidArgument("'path' is required and must be a non-empty string")
    return extra(b, path), None


_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _save(b: dict, p: str, **extra: Any) -> dict:
    """A save's args; a name that is no DNS label fails its future as the trainer's would (the
    trainer also stores run-scoped `<run>.<name>` names, which a caller may not send)."""
    if not _NAME_RE.match(p):
        return {
            REJECTED: f"checkpoint name {p!r} must be a DNS label "
            "(lowercase letters, digits, '-', at most 63 characters)"
        }
    return {"name": p, **extra}


def _publication(body: dict) -> tuple[dict | None, Exception | None]:
    if body.get("transport") != "RDMA" or body.get("protocol_version") != 1:
        return None, InvalidArgument("weight_sync expects protocol_version 1 over transport RDMA")
    if not isinstance(body.get("deployment"), str):
        return None, InvalidArgument("'deployment' is required and must be a string")
    op = body.get("operation_id")
    if not isinstance(op, str) or not re.fullmatch(r"[0-9a-fA-F-]{1,40}", op):
        return None, InvalidArgument("'operation_id' must be a UUID")
    return {"checkpoint_type": "base"}, None


#: The sequenced training ops both trainer surfaces (dedicated jobs, serverless sessions) serve:
#: wire op -> the parser of its body into the gateway's args (or the 4xx it earns).
TRAINING_OPS: dict[str, Callable[[dict], tuple[dict | None, Exception | None]]] = {
    "forward": lambda b: _fb_args(b, "forward_input"),
    "forward_backward": lambda b: _fb_args(b, "forward_backward_input"),
    "optim_step": _optim,
    "save_weights": lambda b: _path(b, _save),
    "save_weights_for_sampler": lambda b: _path(
        b, lambda b, p: _save(b, p, checkpoint_type=b.get("checkpoint_type") or "base")
    ),
    "load_weights": lambda b: _path(
        b, lambda b, p: {"ref": p, "optimizer": bool(b.get("optimizer", False))}
    ),
}


#: What `/client/config` answers on both trainer surfaces (dedicated jobs, serverless sessions).
CLIENT_CONFIG = {
    "pjwt_auth_enabled": False,
    "parallel_fwdbwd_chunks": True,
    "proto_write_fwdbwd": False,
    "proto_compress_fwdbwd": False,
}


def model_info(model_id: str, lora_rank: int, base_model: str | None) -> dict[str, Any]:
    """`/get_info`'s answer for a trainer model, on both trainer surfaces."""
    return {
        "model_id": model_id,
        "is_lora": lora_rank > 0,
        "lora_rank": lora_rank or None,
        "model_name": base_model,
        "model_data": {"arch": "drydock-tiny-decoder", "model_name": base_model},
    }


def trainer_router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["fireworks-trainer"])

    @r.post("/client/config", name="gateway.client_config")
    async def client_config(account: str, job_id: str, request: Request) -> Response:
        _enter(request, account, job_id)
        return _json(CLIENT_CONFIG)

    @r.get("/get_server_capabilities", name="gateway.capabilities")
    async def capabilities(account: str, job_id: str, request: Request) -> Response:
        _, job, _ = _enter(request, account, job_id)
        return _json(
            {
                "supported_models": [
                    {
                        "model_name": job.spec.base_model,
                        "max_context_length": job.max_context_length,
                    }
                ]
            }
        )

    @r.post("/create_session", name="gateway.create_session")
    async def create_session(account: str, job_id: str, request: Request) -> Response:
        cp, job, gw = _enter(request, account, job_id)
        await _body(request)
        wait_s = getattr(cp.runtime_of(job), "ready_wait_s", 0.0)
        # May wait for a booting worker: off the event loop, so other requests go on.
        return _json({"session_id": await run_in_threadpool(gw.create_session, wait_s)})

    @r.post("/session_heartbeat", name="gateway.heartbeat")
    async def heartbeat(account: str, job_id: str, request: Request) -> Response:
        _, _, gw = _enter(request, account, job_id)
        gw.heartbeat(str((await _body(request)).get("session_id")))
        return _json({"type": "session_heartbeat"})

    @r.post("/telemetry", name="gateway.telemetry")
    async def telemetry(account: str, job_id: str, request: Request) -> Response:
        authorized(request, account)
        await request.body()
        return _json({"status": "accepted"})

    @r.post("/create_model", name="gateway.create_model")
    async def create_model(account: str, job_id: str, request: Request) -> Response:
        cp, job, gw = _enter(request, account, job_id)
        body = await _body(request)
        session_id = _require(body, "session_id", str)
        model_seq_id = body.get("model_seq_id", 0)
        base = body.get("base_model")
        if base not in (job.spec.base_model, job.model.name if job.model else None):
            raise InvalidArgument(f"job {job_id} trains {job.spec.base_model!r}, not {base!r}")
        lora = body.get("lora_config") or {}
        rank = int(lora.get("rank", 0) or 0) if isinstance(lora, dict) else 0
        if body.get("base_only"):
            rank = job.spec.lora_rank
        if rank != job.spec.lora_rank:
            raise InvalidArgument(
                f"job {job_id} was created with lora_rank "
                f"{job.spec.lora_rank}; create_model asked for rank {rank}"
            )
        seed = int(lora.get("seed") or 0) if isinstance(lora, dict) else 0
        alpha = lora.get("alpha") if isinstance(lora, dict) and rank else None
        answer = rdma_flags(cp.runtimes.get(DEPLOYMENT_DIALECT)) if rank == 0 else {}
        return _future(gw.create_model(session_id, model_seq_id, rank, seed, alpha, answer))

    @r.post("/get_info", name="gateway.get_info")
    async def get_info(account: str, job_id: str, request: Request) -> Response:
        _, job, gw = _enter(request, account, job_id)
        m = gw.model(str((await _body(request)).get("model_id")))
        return _json(model_info(m.model_id, m.lora_rank, job.spec.base_model))

    def _sequenced(
        wire_op: str, parse: Callable[[dict], tuple[dict | None, Exception | None]]
    ) -> None:
        async def handler(account: str, job_id: str, request: Request) -> Response:
            _, _, gw = _enter(request, account, job_id)
            body = await _body(request)
            model_id = _require(body, "model_id", str)
            args, error = parse(body)
            return _future(gw.submit(wire_op, model_id, body.get("seq_id"), args or {}, error))

        handler.__name__ = wire_op
        r.add_api_route(f"/{wire_op}", handler, methods=["POST"], name=f"gateway.{wire_op}")

    for wire_op, parse in TRAINING_OPS.items():
        _sequenced(wire_op, parse)

    def _adapter(b):
        path = b.get("adapter_path")
        if not isinstance(path, str) or not path.strip():
            return None, InvalidArgument(
                "'adapter_path' is required and must be a non-empty string"
            )
        if path.startswith("gs://"):  # drydock has no cloud storage: only promoted models
            return {
                REJECTED: f"adapter_path {path!r}: gs:// is not reachable from drydock; "
                "use a PEFT model resource (accounts/<account>/models/<id>)"
            }, None
        return {"ref": path.strip()}, None

    _sequenced("load_adapter", _adapter)

    @r.post("/weight_sync", name="gateway.weight_sync")
    async def weight_sync(account: str, job_id: str, request: Request) -> Response:
        """An RDMA publication: the live weights saved as a sampler snapshot, then hot-loaded
        into the deployment the body names (drydock moves files, not RDMA)."""
        cp, _, gw = _enter(request, account, job_id)
        runtime = cp.runtimes.get(DEPLOYMENT_DIALECT)
        if not isinstance(runtime, ServingRuntime) or not rdma_flags(runtime):
            raise NotFound(
                "weight_sync (RDMA) is not enabled on this trainer; "
                "save_weights_for_sampler and hot-load instead"
            )
        body = await _body(request)
        model_id = _require(body, "model_id", str)
        args, error = _publication(body)
        if args is not None:
            # The version comes from the seeded RNG, not the client's random operation_id: a
            # scenario's log then names the same versions on every replay.
            with cp.lock:
                name = args["name"] = "weight-sync-" + cp.rng.hex_id("weight-sync", 12)
            deployment = str(body["deployment"])

            def then(_answer: dict, payload: dict) -> dict:
                with cp.lock:
                    publish(cp, runtime, (account, job_id), deployment, name)
                return {"version": name, "optimizer_version": payload.get("step"), "metrics": {}}

            args[THEN] = then
        return _future(gw.submit("weight_sync", model_id, body.get("seq_id"), args or {}, error))

    @r.post("/unload_model", name="gateway.unload_model")
    async def unload_model(account: str, job_id: str, request: Request) -> Response:
        _, _, gw = _enter(request, account, job_id)
        return _future(gw.unload(_require(await _body(request), "model_id", str)))

    @r.get("/list_checkpoints", name="gateway.list_checkpoints")
    async def list_checkpoints(account: str, job_id: str, request: Request) -> Response:
        cp, _, _ = _enter(request, account, job_id)
        rows = cp.list_checkpoints(account, job_id)
        return _json(
            {"checkpoints": sorted(r.name for r in rows if r.kind in ("TRAINING", "TRAINING_LORA"))}
        )

    @r.post("/retrieve_future", name="gateway.retrieve_future")
    async def retrieve_future(account: str, job_id: str, request: Request) -> Response:
        cp = authorized(request, account)
        job = cp.get_job(account, job_id, "fireworks")
        cp.touch(account, job_id)
        body = await _body(request)
        request_id = _require(body, "request_id", str)
        gw = gateway_of(cp, account, job_id)
        if gw is None:
            raise NotFound(f"request {request_id!r} not found on job {job_id}")
        return await future_answer(
            gw, request_id, getattr(cp.runtime_of(job), "poll_timeout_s", 10.0)
        )

    return r


async def future_answer(
    gw: TinkerGateway, request_id: str, poll_s: float, shown_id: str | None = None
) -> Response:
    """The long-poll answer for one of `gw`'s futures (`shown_id`: the id the client holds,
    when the route gave it another one than the gateway's)."""
    try:
        rec = gw.lookup(request_id)
        await gw.wait(rec, poll_s)
    except Gone as e:
        return _json({"code": 5, "message": str(e), "details": []}, 410)
    if rec.dead:
        return _json(
            {
                "code": 5,
                "message": f"request {shown_id or request_id} was lost: the trainer "
                f"of job {gw.job_id} was stopped; reconnect and retry",
                "details": [],
            },
            410,
        )
    if rec.body is None:
        return _json(
            {"type": "try_again", "request_id": shown_id or request_id, "queue_state": "active"}
        )
    return _json(rec.body)
