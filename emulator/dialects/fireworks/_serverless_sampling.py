"""Serverless sampling: `POST /training/v1/serverless/inference/v1/completions` with model
`accounts/<a>/trainingSessions/<ts>/checkpoints/<checkpoint>` (a sampler checkpoint of the
session's runs, as `create_sampling_client(model_path=...)` names it) or
`accounts/<a>/trainingSessions/<ts>` (the session's base weights).

The rollout host bound to a session is one sampling replica (built by the deployments' serving
backend) that swaps in the checkpoint a request names; the completion itself is the deployments'
(`_sampling_routes.complete`).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..._openapi import json_body
from ...control_plane import ControlPlane
from ...errors import FailedPrecondition, InvalidArgument, NotFound
from ._hot_load import bearer_caller
from ._sampling_routes import CompletionBody, complete
from ._sampling_runtime import Replica, ServingRuntime
from ._serverless_sessions import SESSION_DIALECT, Session, find_saved, get_session
from .wire import parse_body

__all__ = ["serverless_sampling_router", "drop_replica"]

_REPLICAS: weakref.WeakKeyDictionary[ControlPlane, dict[tuple[str, str], Replica]] = (
    weakref.WeakKeyDictionary()
)
_LOAD_LOCK = threading.Lock()  # one checkpoint swap at a time


def _location(cp: ControlPlane, s: Session, checkpoint: str) -> str:
    """Where a sampler checkpoint lives: `<account>/<run>/<name>` (the path the save returned:
    that run's save, in whichever session of the account holds the run) or a list row's
    checkpoint id (or a bare save name one run of the session used)."""
    owner, stored = find_saved(cp, s, s.account, checkpoint)
    rec = next(r for r in cp.list_checkpoints(owner.account, owner.id) if r.name == stored)
    if not rec.promotable or rec.location is None:
        raise FailedPrecondition(
            f"checkpoint {checkpoint!r} is a state checkpoint; sample from a sampler "
            "checkpoint (save_weights_for_sampler)"
        )
    return rec.location


def _replica(cp: ControlPlane, serving: ServingRuntime, s: Session, checkpoint: str | None) -> Any:
    """The session's sampling replica serving `checkpoint` (None: the base weights)."""
    job = cp.get_job(s.account, s.id, SESSION_DIALECT)
    assert job.model is not None  # a session job is placed like any job
    location = _location(cp, s, checkpoint) if checkpoint is not None else None
    replicas = _REPLICAS.setdefault(cp, {})
    with _LOAD_LOCK:
        rep = replicas.get(job.key)
        if rep is None or (location is None and rep.current is not None):
            config = job.model.local.model_dump()
            engine = serving.backend.build_engine(
                config,
                device=serving.device,
                seed=cp.seed,
                init_location=None,
                max_batch=serving.max_batch,
            )
            if rep is not None:
                rep.engine.close()
            rep = replicas[job.key] = Replica(engine, config)
        # Keyed by where the weights live: a run that saves a name again gets a new location.
        if location is not None and rep.current != location:
            try:
                serving.backend.load_snapshot(rep.engine, rep.config, location, checkpoint)
            except serving.backend.SnapshotLoadError as exc:
                raise FailedPrecondition(f"checkpoint {checkpoint!r}: {exc}") from None
            rep.current = location
            rep.loads += 1
    return job, rep


def drop_replica(cp: ControlPlane, account: str, session_id: str) -> None:
    """A deleted session's rollout host goes away."""
    with _LOAD_LOCK:
        rep = _REPLICAS.get(cp, {}).pop((account, session_id), None)
    if rep is not None:
        rep.engine.close()


def serverless_sampling_router(serving: Any) -> APIRouter:
    """`serving(cp)` -> that control plane's ServingRuntime (its backend builds the replicas)."""
    r = APIRouter(tags=["fireworks-serverless"])

    @r.post(
        "/training/v1/serverless/inference/v1/completions",
        name="serverless.completions",
        openapi_extra=json_body(CompletionBody),
    )
    async def completions(request: Request) -> Response:
        started = time.perf_counter()
        cp, acct = bearer_caller(request)
        body = parse_body(await request.body(), CompletionBody)
        if isinstance(body.prompt, str):
            raise InvalidArgument("serverless sampling takes token ids: 'prompt' must be a list")
        parts = body.model.split("/", 5)
        if len(parts) < 4 or parts[0] != "accounts" or parts[2] != "trainingSessions":
            raise NotFound(
                f"model {body.model!r} not found; expected accounts/<a>/trainingSessions/<ts>"
                "[/checkpoints/<checkpoint>]"
            )
        if len(parts) > 4 and (len(parts) != 6 or parts[4] != "checkpoints"):
            raise NotFound(f"model {body.model!r} not found")
        cp.authorize(acct, parts[1])
        s = get_session(cp, parts[1], parts[3])
        if s.deleted or s.base_model is None:
            raise NotFound(f"training session {s.name} has no trainer to sample from")
        rt = serving(cp)
        # Loading a checkpoint is torch work: off the event loop.
        job, rep = await run_in_threadpool(
            _replica, cp, rt, s, parts[5] if len(parts) == 6 else None
        )
        return await complete(cp, rt.backend, body, rep, job, request, started)

    return r
