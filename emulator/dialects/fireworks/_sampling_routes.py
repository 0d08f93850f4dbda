"""`POST /inference/v1/completions`: token-in/token-out completions from a deployment (spec 7).

Non-streaming JSON (the readiness probe and warm-up) and SSE streaming (every sample). The
deployment's replica (`ServingRuntime`) batches concurrent requests on one device. Errors use the
inference API's body `{"error": {"code", "message", "type"}}` (rendered by the dialect for the
`/inference/` paths). A deployment that is not serving answers 404 at once (the SDK's readiness
probe then counts "not ready" without its 300 s retry loop, spec 4.2).

Text: the emulator has no tokenizer, so token `t` renders as `<t>`; `stop` strings match that
rendering of the completion.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import Field

from ..._openapi import json_body
from ...errors import InvalidArgument, NotFound
from ...states import JobState
from ._hot_load import bearer_caller
from .deployments import _Body, find_deployment
from .wire import parse_body

if TYPE_CHECKING:
    from ...control_plane import ControlPlane, Job
    from ...records import Account
    from ._sampling_runtime import Replica, ServingRuntime

__all__ = ["sampling_router", "CompletionBody", "render", "complete"]


class CompletionBody(_Body):
    model: str = Field(min_length=1)
    prompt: list[int] | str
    n: int = Field(1, ge=1, le=16)
    max_tokens: int = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    seed: int | None = None
    stop: list[str] | str | None = None
    stream: bool = False
    logprobs: bool | int | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    echo_last: int | None = Field(None, ge=0)
    raw_output: bool = False
    perf_metrics_in_response: bool = False
    prompt_cache_key: str | None = None
    return_token_ids: bool | None = None
    user: str | None = None


def render(tokens: list[int]) -> str:
    return "".join(f"<{t}>" for t in tokens)


def _model_ref(cp: ControlPlane, acct: Account, model: str) -> Job:
    parts = model.split("/")
    if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "deployments":
        raise NotFound(f"model {model!r} not found; expected accounts/<a>/deployments/<d>")
    cp.authorize(acct, parts[1])
    return find_deployment(cp, parts[1], parts[3])


def _token_delay(cp: ControlPlane, job: Job) -> float:
    """Seconds of the emulator's clock each generated token costs (TokenLatency faults)."""
    with cp.lock:
        return sum(
            f.token_latency(cp.fault_host, job) for f in cp.faults if hasattr(f, "token_latency")
        )


async def _spend(cp: ControlPlane, seconds: float) -> None:
    """Let `seconds` of the emulator's clock pass: a virtual clock advances; others wait."""
    if seconds <= 0:
        return
    if getattr(cp.clock, "kind", "") == "virtual":
        with cp.lock:
            cp.clock.advance(seconds)
    else:
        await asyncio.sleep(seconds / getattr(cp.clock, "speed", 1.0))


def _row(r: Any, top: bool) -> dict[str, Any]:
    out = {
        "token": f"<{r.token_id}>",
        "token_id": r.token_id,
        "logprob": r.logprob,
        "sampling_logprob": r.sampling_logprob,
        "bytes": [],
    }
    if top:
        out["top_logprobs"] = [{"token": f"<{t}>", "token_id": t, "logprob": lp} for t, lp in r.top]
    return out


def _choice(body: CompletionBody, res: Any, index: int) -> dict[str, Any]:
    prompt = list(body.prompt)
    rows, ids = res.rows, list(res.completion)
    echo_k = len(prompt) if body.echo else (body.echo_last or 0)
    if echo_k:
        keep = len(rows) - len(res.completion) - echo_k  # rows computed for the whole prompt
        rows = rows[keep:]
        ids = prompt[len(prompt) - echo_k :] + ids
    choice: dict[str, Any] = {
        "index": index,
        "text": render(ids),
        "finish_reason": res.finish_reason,
    }
    if body.logprobs:
        choice["logprobs"] = {"content": [_row(r, bool(body.top_logprobs)) for r in rows]}
    choice["raw_output"] = {
        "prompt_fragments": [],
        "prompt_token_ids": prompt,
        "completion": render(res.completion),
        "completion_token_ids": ids,
    }
    return choice


def sampling_router(serving: Callable[[ControlPlane], ServingRuntime]) -> APIRouter:
    """`serving(cp)` -> that control plane's ServingRuntime."""
    r = APIRouter(tags=["fireworks-inference"])

    @r.post(
        "/inference/v1/completions",
        name="inference.completions",
        openapi_extra=json_body(CompletionBody),
    )
    async def completions(request: Request) -> Response:
        started = time.perf_counter()
        cp, acct = bearer_caller(request)
        body = parse_body(await request.body(), CompletionBody)
        if isinstance(body.prompt, str):
            raise InvalidArgument(
                "this deployment takes token ids: 'prompt' must be a list of integers"
            )
        with cp.lock:
            job = _model_ref(cp, acct, body.model)
            rep = serving(cp).replica(job)
            if rep is None or job.state != JobState.RUNNING or not job.payload.get("replicas"):
                raise NotFound(
                    f"deployment {body.model} is not serving "
                    f"({'scaled to zero' if rep else 'no ready replica'})"
                )
        return await complete(cp, serving(cp).backend, body, rep, job, request, started)

    return r


async def complete(
    cp: ControlPlane,
    backend: Any,
    body: CompletionBody,
    rep: Replica,
    job: Job,
    request: Request,
    started: float,
) -> Response:
    """Sample `body` from the replica `rep` serving for `job` (whose TokenLatency faults apply):
    the JSON or SSE answer (`started`: perf_counter() when the request came in)."""
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or ())
    want_echo = body.echo or bool(body.echo_last)
    req = backend.SampleRequest(
        prompt=list(body.prompt),
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        seed=body.seed,
        stop=(lambda toks: any(s in render(toks) for s in stops)) if stops else None,
        top_logprobs=body.top_logprobs or 0,
        echo=want_echo,
    )
    problem = rep.engine.validate(req)
    if problem:
        raise InvalidArgument(problem)
    if body.echo_last and body.echo_last > len(req.prompt):
        raise InvalidArgument("echo_last must be <= the prompt length")
    futures = [rep.engine.submit(req) for _ in range(body.n)]
    results = [await asyncio.wrap_future(f) for f in futures]
    per_token = _token_delay(cp, job)
    elapsed = time.perf_counter() - started + per_token * sum(len(x.completion) for x in results)
    rid = request.headers.get("x-request-id") or uuid.uuid4().hex
    cmpl_id = "cmpl-" + uuid.uuid4().hex[:24]
    n_prompt = len(req.prompt)
    n_out = sum(len(x.completion) for x in results)
    usage = {
        "prompt_tokens": n_prompt,
        "completion_tokens": n_out,
        "total_tokens": n_prompt + n_out,
    }
    metrics = {
        "fireworks-prefill-queue-duration": "0.0",
        "fireworks-server-processing-time": f"{elapsed:.6f}",
        "fireworks-prompt-tokens": str(n_prompt),
        "fireworks-cached-prompt-tokens": "0",
    }
    headers = {
        "x-request-id": rid,
        "fireworks-deployment": body.model,
        "x-fireworks-snapshot-identity": results[0].snapshot or "",
        **metrics,
    }
    choices = [_choice(body, res, i) for i, res in enumerate(results)]
    head = {
        "id": cmpl_id,
        "object": "text_completion",
        "created": int(cp.now()),
        "model": body.model,
    }
    if not body.stream:
        await _spend(cp, per_token * sum(len(x.completion) for x in results))
        out = {**head, "choices": choices, "usage": usage}
        if body.perf_metrics_in_response:
            out["perf_metrics"] = metrics
        return JSONResponse(out, headers=headers)

    async def events() -> AsyncIterator[bytes]:
        for ch in choices:
            rows = ch.get("logprobs", {}).get("content")
            ids = ch["raw_output"]["completion_token_ids"]
            # One chunk per token (text and its logprob row), then the final chunk.
            for i, tok in enumerate(ids):
                if i >= len(ids) - len(results[ch["index"]].completion):
                    await _spend(cp, per_token)  # slow tokens: one delay per token
                piece: dict[str, Any] = {
                    "index": ch["index"],
                    "text": f"<{tok}>",
                    "finish_reason": None,
                }
                if rows is not None:
                    piece["logprobs"] = {"content": [rows[i]]}
                yield _sse({**head, "choices": [piece]})
            final = {
                "index": ch["index"],
                "text": "",
                "finish_reason": ch["finish_reason"],
                "raw_output": ch["raw_output"],
            }
            last: dict[str, Any] = {**head, "choices": [final], "usage": usage}
            if body.perf_metrics_in_response:
                last["perf_metrics"] = metrics
            yield _sse(last)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _sse(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
