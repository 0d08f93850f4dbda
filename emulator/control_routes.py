"""Test-only control API under /_drydock (like moto's /moto-api). In server mode, when an admin
token is configured, each call must carry it in `X-Drydock-Admin-Token`; `GET /_drydock/events`
also answers an account's API key (`X-Api-Key`) with that account's events only.

Bodies are validated by the same code as every other entry point (`drydock.emulator._validate`):
errors read `path: message` with "did you mean", and a fault plan whose faults could never fire
(an unknown route name, `at_step` with no trainer) is refused with 400."""

from __future__ import annotations

import hmac
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._limits import MAX_ADVANCE_S, check_advance, check_fault_plan
from ._openapi import json_body
from ._validate import FaultPlanProblems, check_for, validation_problems
from .errors import InvalidArgument, PermissionDenied, Unauthenticated
from .faults import FaultPlan

__all__ = ["control_router", "install_local_docs", "EVENT_FILTERS"]


class AdvanceBody(BaseModel):
    # Infinity, NaN and 1e309 (inf once parsed) are refused: the clock must stay on the wire.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    seconds: float = Field(
        ge=0, le=MAX_ADVANCE_S, description="virtual seconds to move the clock forward"
    )


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # `false` is no seed
    seed: int | None = Field(None, description="new seed; the current one when omitted")

    @field_validator("seed", mode="before")
    @classmethod
    def _whole_number(cls, v: object) -> object:
        # JSON Schema's "integer" includes 3600.0: a whole float is that integer, 1.5 is not
        return int(v) if isinstance(v, float) and v.is_integer() else v


#: Query parameters `GET /_drydock/events` understands; any other is refused with 400.
EVENT_FILTERS = ("kind", "job", "account", "since")


def _check_admin(request: Request) -> None:
    token = request.app.state.admin_token
    if token is None:
        return
    given = request.headers.get("x-drydock-admin-token")
    if not given:
        raise Unauthenticated(
            "this drydock server needs X-Drydock-Admin-Token for /_drydock routes"
        )
    # Constant time: a timing side channel must not spell the token out.
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise PermissionDenied("wrong X-Drydock-Admin-Token")


def _events_scope(request: Request) -> str | None:
    """Whose events the caller may read: None for every account (an open server, or the admin
    token), else only the account of the caller's API key."""
    key = request.headers.get("x-api-key")
    if (
        request.app.state.admin_token is None
        or key is None
        or request.headers.get("x-drydock-admin-token")
    ):
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
        raise InvalidArgument(
            "invalid request: "
            + "; ".join(_json_problem(p) for p in validation_problems(exc, model))
        ) from None


def _json_problem(problem: str) -> str:
    # pydantic's JSON errors have an empty location: say what the body should be
    return problem.replace("Invalid JSON: ", "body is not valid JSON: ")


class _NDJSON(PlainTextResponse):
    media_type = "application/x-ndjson"  # what the schema then says, too


def control_router() -> APIRouter:
    r = APIRouter(prefix="/_drydock", tags=["drydock control (test only)"])

    @r.post(
        "/reset",
        name="drydock.reset",
        summary="Forget every job, fault and event",
        openapi_extra=json_body(ResetBody, required=False),
    )
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

    @r.post(
        "/clock/advance",
        name="drydock.clock.advance",
        summary="Advance the clock, firing every event that comes due",
        openapi_extra=json_body(AdvanceBody),
    )
    async def advance(request: Request) -> dict:
        _check_admin(request)
        body = await _json(request, AdvanceBody)
        emu = request.app.state.emulator
        check_advance(emu.clock.now(), body.seconds)
        emu.advance(body.seconds)
        return {"now": emu.clock.now(), "elapsed": emu.clock.elapsed()}

    @r.post(
        "/faults",
        name="drydock.faults",
        summary="Inject a FaultPlan",
        description='A FaultPlan (`{"faults": [...]}`); see the fault reference page. '
        "Faults that could never fire (an unknown route name, an `at_step` "
        "trigger without a trainer runtime) are refused with 400.",
        openapi_extra=json_body(FaultPlan),
    )
    async def faults(request: Request) -> dict:
        _check_admin(request)
        plan = await _json(request, FaultPlan)
        emu = request.app.state.emulator
        check_fault_plan(plan, emu.control_plane.faults, emu.limits)
        try:
            check_for(emu, plan)
        except FaultPlanProblems as exc:
            raise InvalidArgument("invalid request: " + "; ".join(exc.problems)) from None
        emu.inject(plan)
        return {"injected": len(plan.faults)}

    @r.get(
        "/events",
        name="drydock.events",
        response_class=_NDJSON,
        summary="The event log as JSON lines",
        description="Filters: `kind` (a kind or a prefix: `fault` matches `fault.preempt`), "
        "`job`, `account`, `since` (a virtual time: events at or after it). "
        "Any other query parameter is refused with 400. With an account's API "
        "key instead of the admin token: that account's events only.",
    )
    async def events(
        request: Request,
        kind: str | None = None,
        job: str | None = None,
        account: str | None = None,
        since: float | None = None,
    ) -> PlainTextResponse:
        scope = _events_scope(request)
        unknown = sorted(set(request.query_params) - set(EVENT_FILTERS))
        if unknown:
            from ._suggest import did_you_mean

            raise InvalidArgument(
                "unknown query parameter(s) "
                + ", ".join(f"{u!r}{did_you_mean(u, EVENT_FILTERS)}" for u in unknown)
                + f"; filters: {', '.join(EVENT_FILTERS)}"
            )
        log = request.app.state.emulator.events
        rows = [
            e
            for e in log
            if (scope is None or e.account == scope)
            and (kind is None or e.kind == kind or e.kind.startswith(kind + "."))
            and (job is None or e.job == job)
            and (account is None or e.account == account)
            and (since is None or e.t >= since)
        ]
        return PlainTextResponse(
            "".join(e.to_json() + "\n" for e in rows), media_type="application/x-ndjson"
        )

    return r


# ------------------------------------------------------------------ /docs without a CDN
_DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
STATIC_PREFIX = "/docs/static"


def install_local_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from the packaged `swagger-ui-bundle` files, never a CDN (so it
    works offline); /redoc, which only a CDN offers, is dropped."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "path", None) not in _DOCS_PATHS
    ]
    try:
        from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]
    except ImportError:  # the page says what to install instead of loading a CDN
        swagger_ui_path = None

    if swagger_ui_path is not None:
        from starlette.staticfiles import StaticFiles

        app.mount(STATIC_PREFIX, StaticFiles(directory=str(swagger_ui_path)), name="docs.static")

    @app.get("/docs", include_in_schema=False, name="docs")
    async def docs() -> HTMLResponse:
        if swagger_ui_path is None:
            return HTMLResponse(
                "<p>Swagger UI needs the <code>swagger-ui-bundle</code> package "
                "(<code>pip install swagger-ui-bundle</code>); the schema is at "
                f"<a href='{app.openapi_url}'>{app.openapi_url}</a>.</p>"
            )
        return get_swagger_ui_html(
            openapi_url=cast(str, app.openapi_url),  # set: the app serves its schema
            title=f"{app.title} - API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PREFIX}/favicon-32x32.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False, name="docs.oauth2_redirect")
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
