"""Test-only control API under /_drydock (like moto's /moto-api). In server mode, when an admin
token is configured, each call must carry it in `X-Drydock-Admin-Token`.

Bodies are validated by the same code as every other entry point (`drydock.emulator._validate`):
errors read `path: message` with "did you mean", and a fault plan whose faults could never fire
(an unknown route name, `at_step` with no trainer) is refused with 400."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._validate import FaultPlanProblems, check_for, inline_schema, validation_problems
from .errors import InvalidArgument, PermissionDenied, Unauthenticated
from .faults import FaultPlan

__all__ = ["control_router", "install_local_docs", "EVENT_FILTERS"]


class AdvanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, description="virtual seconds to move the clock forward")


class ResetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int | None = Field(None, description="new seed; the current one when omitted")


#: Query parameters `GET /_drydock/events` understands; any other is refused with 400.
EVENT_FILTERS = ("kind", "job", "account", "since")


def _check_admin(request: Request) -> None:
    token = request.app.state.admin_token
    if token is None:
        return
    given = request.headers.get("x-drydock-admin-token")
    if not given:
        raise Unauthenticated("this drydock server needs X-Drydock-Admin-Token for /_drydock routes")
    if given != token:
        raise PermissionDenied("wrong X-Drydock-Admin-Token")


async def _json(request: Request, model: type[BaseModel], allow_empty: bool = False) -> Any:
    raw = await request.body()
    if allow_empty and not raw.strip():
        return model()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidArgument("invalid request: " + "; ".join(
            _json_problem(p) for p in validation_problems(exc, model))) from None


def _json_problem(problem: str) -> str:
    # pydantic's JSON errors have an empty location: say what the body should be
    return problem.replace("Invalid JSON: ", "body is not valid JSON: ")


def _body(model: type[BaseModel], required: bool = True) -> dict:
    """openapi_extra documenting a body that the route validates itself (for readable errors)."""
    return {"requestBody": {"required": required, "content": {
        "application/json": {"schema": inline_schema(model)}}}}


def control_router() -> APIRouter:
    r = APIRouter(prefix="/_drydock", tags=["drydock control (test only)"])

    @r.post("/reset", name="drydock.reset", summary="Forget every job, fault and event",
            openapi_extra=_body(ResetBody, required=False))
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
            openapi_extra=_body(AdvanceBody))
    async def advance(request: Request) -> dict:
        _check_admin(request)
        body = await _json(request, AdvanceBody)
        emu = request.app.state.emulator
        emu.advance(body.seconds)
        return {"now": emu.clock.now(), "elapsed": emu.clock.elapsed()}

    @r.post("/faults", name="drydock.faults", summary="Inject a FaultPlan",
            description="A FaultPlan (`{\"faults\": [...]}`); see the fault reference page. "
                        "Faults that could never fire (an unknown route name, an `at_step` "
                        "trigger without a trainer runtime) are refused with 400.",
            openapi_extra=_body(FaultPlan))
    async def faults(request: Request) -> dict:
        _check_admin(request)
        plan = await _json(request, FaultPlan)
        emu = request.app.state.emulator
        try:
            check_for(emu, plan)
        except FaultPlanProblems as exc:
            raise InvalidArgument("invalid request: " + "; ".join(exc.problems)) from None
        emu.inject(plan)
        return {"injected": len(plan.faults)}

    @r.get("/events", name="drydock.events", response_class=PlainTextResponse,
           summary="The event log as JSON lines",
           description="Filters: `kind` (a kind or a prefix: `fault` matches `fault.preempt`), "
                       "`job`, `account`, `since` (a virtual time: events at or after it). "
                       "Any other query parameter is refused with 400.")
    async def events(request: Request, kind: str | None = None, job: str | None = None,
                     account: str | None = None, since: float | None = None) -> PlainTextResponse:
        _check_admin(request)
        unknown = sorted(set(request.query_params) - set(EVENT_FILTERS))
        if unknown:
            from ._suggest import did_you_mean

            raise InvalidArgument("unknown query parameter(s) " + ", ".join(
                f"{u!r}{did_you_mean(u, EVENT_FILTERS)}" for u in unknown)
                + f"; filters: {', '.join(EVENT_FILTERS)}")
        log = request.app.state.emulator.events
        rows = [e for e in log
                if (kind is None or e.kind == kind or e.kind.startswith(kind + "."))
                and (job is None or e.job == job)
                and (account is None or e.account == account)
                and (since is None or e.t >= since)]
        return PlainTextResponse("".join(e.to_json() + "\n" for e in rows),
                                 media_type="application/x-ndjson")

    return r


# ------------------------------------------------------------------ /docs without a CDN
_DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
STATIC_PREFIX = "/docs/static"


def install_local_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from the packaged `swagger-ui-bundle` files, never a CDN (so it
    works offline); /redoc, which only a CDN offers, is dropped."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    app.router.routes[:] = [r for r in app.router.routes
                            if getattr(r, "path", None) not in _DOCS_PATHS]
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # the page says what to install instead of loading a CDN
        swagger_ui_path = None

    if swagger_ui_path is not None:
        from starlette.staticfiles import StaticFiles

        app.mount(STATIC_PREFIX, StaticFiles(directory=str(swagger_ui_path)), name="docs.static")

    @app.get("/docs", include_in_schema=False, name="docs")
    async def docs() -> HTMLResponse:
        if swagger_ui_path is None:
            return HTMLResponse("<p>Swagger UI needs the <code>swagger-ui-bundle</code> package "
                                "(<code>pip install swagger-ui-bundle</code>); the schema is at "
                                f"<a href='{app.openapi_url}'>{app.openapi_url}</a>.</p>")
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PREFIX}/favicon-32x32.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False, name="docs.oauth2_redirect")
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
