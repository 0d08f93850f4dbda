"""HTTP plumbing shared by every dialect: gRPC-style error bodies and the HTTP-fault middleware."""

from __future__ import annotations

import asyncio
import json

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .control_plane import ControlPlane
from .errors import ClockError, ServiceError

__all__ = ["install_error_handlers", "FaultMiddleware", "error_body", "GRPC_HTTP_STATUS",
           "InjectedConnectionReset"]


class InjectedConnectionReset(httpx.RemoteProtocolError):
    """Raised mid-response to drop the connection: in process the caller's httpx sees it as is;
    a uvicorn server closes the socket with the response half-sent."""

GRPC_HTTP_STATUS = {3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 14: 503, 16: 401, 2: 500, 13: 500}
_STATUS_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


def error_body(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        return JSONResponse(error_body(exc.grpc_code, exc.message),
                            status_code=GRPC_HTTP_STATUS.get(exc.grpc_code, 500))

    @app.exception_handler(ClockError)
    async def _clock_error(request: Request, exc: ClockError):
        return JSONResponse(error_body(9, f"{type(exc).__name__}: {exc}"), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        msgs = "; ".join(f'{".".join(map(str, e["loc"]))}: {e["msg"]}' for e in exc.errors())
        return JSONResponse(error_body(3, f"invalid request: {msgs}"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse(error_body(_STATUS_GRPC.get(exc.status_code, 2), str(exc.detail)),
                            status_code=exc.status_code)


def _match_name(routes, scope) -> str | None:
    """The name of the route that fully matches `scope`. FastAPI >= 0.16x keeps included
    routers as lazy `_IncludedRouter` entries (no `.name`), so descend into their candidates."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            name = _match_name(candidates(), scope)
            if name:
                return name
            continue
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return getattr(route, "name", "") or ""
    return None


class FaultMiddleware:
    """Binds the current control plane to `app.state.control_plane`, fires due clock events
    and applies HttpFaults, before routing, on every request."""

    def __init__(self, app, control_plane_getter) -> None:
        self.app = app
        self._cp = control_plane_getter

    def _route_name(self, scope) -> str:
        return _match_name(scope["app"].router.routes, scope) or "" if "app" in scope else ""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cp: ControlPlane = self._cp()
        if "app" in scope:  # routes read the current control plane from app state
            scope["app"].state.control_plane = cp
        cp.tick()
        fault = None
        if cp.faults and scope["path"].startswith(("/v1/", "/training/")):
            fault = cp.http_fault(scope["method"], self._route_name(scope), scope["path"])
        if fault is None:
            return await self.app(scope, receive, send)
        if fault.latency_s:
            if getattr(cp.clock, "kind", "") == "virtual":
                with cp.lock:
                    cp.clock.advance(fault.latency_s)
            else:
                await asyncio.sleep(fault.latency_s / getattr(cp.clock, "speed", 1.0))
        if fault.lose_response:
            async def swallow(message):  # the write commits; its answer never arrives
                pass
            await self.app(scope, receive, swallow)
        elif fault.status is None and not fault.reset:
            return await self.app(scope, receive, send)
        if fault.reset:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]})
            raise InjectedConnectionReset("connection reset (drydock http fault)")
        body = json.dumps(error_body(_STATUS_GRPC.get(fault.status, 13),
                                     f"injected fault: HTTP {fault.status}")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if fault.retry_after_s is not None:
            headers.append((b"retry-after", str(int(round(fault.retry_after_s))).encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
