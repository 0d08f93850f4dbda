"""HTTP plumbing shared by every dialect: per-dialect error rendering and the HTTP-fault
middleware. Which dialect answers is decided by the request path (`Dialect.owned_paths`);
paths no dialect owns (drydock's own `/_drydock` routes) get `{"code", "message", "details"}`
bodies with a gRPC status code, the neutral form the core's errors carry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ClockError, FailedPrecondition, ServiceError

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dialect import Dialect

__all__ = [
    "install_error_handlers",
    "FaultMiddleware",
    "error_body",
    "GRPC_HTTP_STATUS",
    "STATUS_GRPC",
    "InjectedConnectionReset",
    "DialectIndex",
    "iter_routes",
]


class InjectedConnectionReset(httpx.RemoteProtocolError):
    """Raised mid-response to drop the connection: in process the caller's httpx sees it as is;
    a uvicorn server closes the socket with the response half-sent."""


GRPC_HTTP_STATUS = {
    3: 400,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    14: 503,
    16: 401,
    2: 500,
    13: 500,
}
STATUS_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


def error_body(code: int, message: str) -> dict:
    return {"code": code, "message": message, "details": []}


class DialectIndex:
    """Which dialect owns a path: the longest owned prefix wins."""

    def __init__(self, dialects: Sequence[Dialect]) -> None:
        self._by_prefix = sorted(
            ((p, d) for d in dialects for p in d.owned_paths()), key=lambda pd: -len(pd[0])
        )

    def owner(self, path: str) -> Dialect | None:
        for prefix, dialect in self._by_prefix:
            if path.startswith(prefix):
                return dialect
        return None


def _render(
    index: DialectIndex,
    request: Request | None,
    path: str,
    status: int,
    message: str,
    error: ServiceError | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    dialect = index.owner(path)
    if dialect is not None:
        return dialect.error_response(request, status, message, error, headers)
    code = error.grpc_code if error is not None else STATUS_GRPC.get(status, 2)
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, index: DialectIndex) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        return _render(
            index,
            request,
            request.url.path,
            GRPC_HTTP_STATUS.get(exc.grpc_code, 500),
            exc.message,
            exc,
        )

    @app.exception_handler(ClockError)
    async def _clock_error(request: Request, exc: ClockError) -> Response:
        message = f"{type(exc).__name__}: {exc}"
        return _render(index, request, request.url.path, 409, message, FailedPrecondition(message))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _render(index, request, request.url.path, 400, f"invalid request: {msgs}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method the path has, not the first route's
            headers = {
                **(headers or {}),
                "Allow": ", ".join(_allowed(app.router.routes, request.scope)),
            }
        return _render(
            index, request, request.url.path, exc.status_code, str(exc.detail), headers=headers
        )


def _allowed(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    methods: set[str] = set()
    for route in iter_routes(routes):
        route_methods: set[str] | None = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] != Match.NONE:
            methods |= route_methods
    return sorted(methods)


def iter_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every leaf route, descending into FastAPI's lazy included-router entries."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            yield from iter_routes(candidates())
        else:
            yield route


def _match_name(routes: Iterable[BaseRoute], scope: Scope) -> str | None:
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
    and applies HttpFaults, before routing, on every request to a dialect's paths (never on
    drydock's own `/_drydock` routes). Injected errors are rendered in the owning dialect's
    error format."""

    def __init__(
        self, app: ASGIApp, control_plane_getter: Callable[[], ControlPlane], index: DialectIndex
    ) -> None:
        self.app = app
        self._cp = control_plane_getter
        self._index = index

    def _route_name(self, scope: Scope) -> str:
        return _match_name(scope["app"].router.routes, scope) or "" if "app" in scope else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cp: ControlPlane = self._cp()
        if "app" in scope:  # routes read the current control plane from app state
            scope["app"].state.control_plane = cp
        cp.tick()
        fault = None
        if cp.faults and self._index.owner(scope["path"]) is not None:
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

            async def swallow(
                message: Message,
            ) -> None:  # the write commits; its answer never arrives
                pass

            await self.app(scope, receive, swallow)
        elif fault.status is None and not fault.reset:
            return await self.app(scope, receive, send)
        if fault.reset:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            raise InjectedConnectionReset("connection reset (drydock http fault)")
        headers = {}
        if fault.retry_after_s is not None:
            headers["retry-after"] = str(int(round(fault.retry_after_s)))
        response = _render(
            self._index,
            None,
            scope["path"],
            fault.status,
            f"injected fault: HTTP {fault.status}",
            headers=headers,
        )
        await response(scope, receive, send)
