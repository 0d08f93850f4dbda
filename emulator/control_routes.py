"""Test-only control API under /_drydock (like moto's /moto-api). In server mode, when an admin
token is configured, each call must carry it in `X-Drydock-Admin-Token`; `GET /_drydock/events`
also answers an account's API key (`X-Api-Key`) with that account's events only."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._openapi import json_body
from ._limits import MAX_ADVANCE_S, check_advance, check_fault_plan
from .errors import InvalidArgument, PermissionDenied, Unauthenticated
from .faults import FaultPlan

__all__ = ["control_router"]


class AdvanceBody(BaseModel):
    # Infinity, NaN and 1e309 (inf once parsed) are refused: the clock must stay on the wire.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    seconds: float = Field(ge=0, le=MAX_ADVANCE_S,
                           description="virtual seconds to move the clock forward")


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # `false` is no seed
    seed: int | None = Field(None, description="new seed; the current one when omitted")


def _check_admin(request: Request) -> None:
    token = request.app.state.admin_token
    if token is None:
        return
    given = request.headers.get("x-drydock-admin-token")
    if not given:
        raise Unauthenticated("this drydock server needs X-Drydock-Admin-Token for /_drydock routes")
    # Constant time: a timing side channel must not spell the token out.
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise PermissionDenied("wrong X-Drydock-Admin-Token")


def _events_scope(request: Request) -> str | None:
    """Whose events the caller may read: None for every account (an open server, or the admin
    token), else only the account of the caller's API key."""
    key = request.headers.get("x-api-key")
    if request.app.state.admin_token is None or key is None \
            or request.headers.get("x-drydock-admin-token"):
        _check_admin(request)
        return None
    return request.app.state.control_plane.authenticate(key).id


async def _json(request: Request, model: type[BaseModel], allow_empty: bool = False) -> Any:
    raw = await request.body()
    if allow_empty and not raw:  # no body; " " is malformed JSON
        return model()
    try:
        return model.model_validate_json(raw, strict=True)  # `0` is no bool, `"1"` no number
    except ValidationError as exc:
        raise InvalidArgument(f"invalid request: {exc.errors(include_url=False)}") from None


class _NDJSON(PlainTextResponse):
    media_type = "application/x-ndjson"  # what the schema then says, too


def control_router() -> APIRouter:
    r = APIRouter(prefix="/_drydock", tags=["drydock control (test only)"])

    @r.post("/reset", name="drydock.reset", summary="Forget every job, fault and event",
            openapi_extra=json_body(ResetBody, required=False))
    async def reset(request: Request) -> dict:
        _check_admin(request)
        body = await _json(request, ResetBody, allow_empty=True)
        emu = request.app.state.emulator
        emu.reset(seed=body.seed)
        return {"seed": emu.seed}

    @r.get("/clock", name="drydock.clock", summary="The emulator clock's time")
    async def clock(request: Request) -> dict:
        _check_admin(request)
        c = request.app.state.emulator.clock
        return {"now": c.now(), "elapsed": c.elapsed(), "kind": c.kind}

    @r.post("/clock/advance", name="drydock.clock.advance",
            summary="Advance the clock, firing every event that comes due",
            openapi_extra=json_body(AdvanceBody))
    async def advance(request: Request) -> dict:
        _check_admin(request)
        body = await _json(request, AdvanceBody)
        emu = request.app.state.emulator
        check_advance(emu.clock.now(), body.seconds)
        emu.advance(body.seconds)
        return {"now": emu.clock.now(), "elapsed": emu.clock.elapsed()}

    @r.post("/faults", name="drydock.faults", summary="Inject a FaultPlan",
            openapi_extra=json_body(FaultPlan))
    async def faults(request: Request) -> dict:
        _check_admin(request)
        plan = await _json(request, FaultPlan)
        emu = request.app.state.emulator
        check_fault_plan(plan, emu.control_plane.faults, emu.limits)
        emu.inject(plan)
        return {"injected": len(plan.faults)}

    @r.get("/events", name="drydock.events", response_class=_NDJSON,
           summary="The event log as JSON lines")
    async def events(request: Request) -> PlainTextResponse:
        scope = _events_scope(request)
        log = request.app.state.emulator.events
        text = log.to_jsonl() if scope is None else "".join(
            e.to_json() + "\n" for e in log if e.account == scope)
        return PlainTextResponse(text, media_type="application/x-ndjson")

    return r
