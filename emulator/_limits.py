"""Bounds on what one request may ask of the emulator, so a server a team leaves running stays
up: body sizes, JSON-only bodies, clock advances the wire can represent, fault plans of bounded
size, local trainer processes this machine can run, and no unhandled exception that leaves a
connection in a bad state.

The middleware is pure ASGI (Starlette's `@app.middleware("http")` costs more per request than a
whole route). Errors are rendered by the dialect that owns the path (`_http._render`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import InvalidArgument, ResourceExhausted, ServiceError

if TYPE_CHECKING:
    from ._http import DialectIndex
    from .faults import FaultBase, FaultPlan

__all__ = [
    "Limits",
    "BodyLimitMiddleware",
    "LATEST_WIRE_TIME",
    "MAX_ADVANCE_S",
    "check_advance",
    "check_fault_plan",
    "machine_node_cap",
]

log = logging.getLogger("drydock.server")

# Timestamps go out as RFC 3339 (4-digit years): the clock may never pass this.
LATEST_WIRE_TIME = datetime(9999, 1, 1, tzinfo=timezone.utc).timestamp()
MAX_ADVANCE_S = 2.5e11  # one advance, as the schema states it (about 7,900 years)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NODE_BYTES = 512 * 1024 * 1024  # a trainer process (torch + a small model) needs about this


@dataclass(frozen=True)
class Limits:
    """Per-request bounds. `body_bytes` is the default; a dialect may raise it for its own
    paths with a `body_limits = {path prefix: bytes}` attribute (a trainer wire carrying
    batches needs more than a control plane)."""

    body_bytes: int = 256 * 1024
    admin_body_bytes: int = 1024 * 1024
    faults_per_plan: int = 256
    armed_faults: int = 4096
    poisson_arrivals: int = 10_000  # expected arrivals of one rate-based fault


def machine_node_cap() -> int:
    """How many local trainer processes this machine can run: one per node, each about
    512 MiB, and no more than one per core."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        mem = 8 * 1024**3
    return max(1, min(os.cpu_count() or 1, mem // _NODE_BYTES))


def check_advance(now: float, seconds: float) -> None:
    """A clock advance the wire can represent, or InvalidArgument (400, before anything moves)."""
    if now + seconds >= LATEST_WIRE_TIME:
        raise InvalidArgument(
            f"seconds: advancing by {seconds:g} s would move the clock past "
            "9999-01-01T00:00:00Z, the last time the wire can represent"
        )


def check_fault_plan(plan: FaultPlan, armed: list[FaultBase], limits: Limits) -> None:
    """A plan of bounded size whose rate-based faults expect a bounded number of arrivals."""
    n = len(plan.faults)
    if n > limits.faults_per_plan:
        raise InvalidArgument(
            f"a fault plan may hold at most {limits.faults_per_plan} faults, got {n}"
        )
    if len(armed) + n > limits.armed_faults:
        raise InvalidArgument(
            f"at most {limits.armed_faults} faults may be armed at once; "
            f"{len(armed)} are, and this plan adds {n}"
        )
    for f in plan.faults:
        rate = getattr(f, "rate_per_hour", None)
        if rate:
            window = (getattr(f, "until_s", 0.0) or 0.0) - (getattr(f, "at_s", 0.0) or 0.0)
            expected = rate * max(0.0, window) / 3600.0
            if expected > limits.poisson_arrivals:
                raise InvalidArgument(
                    f"{f.kind} rate_per_hour {rate:g} over {window:g} s expects {expected:.0f} "
                    f"arrivals; at most {limits.poisson_arrivals} per fault"
                )


class BodyLimitMiddleware:
    """Bounds request bodies (413), insists on JSON for them where the owner does (415), and
    turns an exception no handler took into a 500 in the owning dialect's error format,
    answered on a connection that stays usable (Starlette's own 500 re-raises into the server,
    which may drop it)."""

    def __init__(self, app: ASGIApp, index: DialectIndex, limits: Limits) -> None:
        self.app = app
        self._index = index
        self._limits = limits

    def _limit(self, path: str) -> int:
        if path.startswith("/_drydock"):
            return self._limits.admin_body_bytes
        dialect = self._index.owner(path)
        for prefix, size in (getattr(dialect, "body_limits", None) or {}).items():
            if path.startswith(prefix):
                return size
        return self._limits.body_bytes

    def _json_only(self, path: str) -> bool:
        """JSON bodies only (415 otherwise) on drydock's own routes and on the paths of a
        dialect that says so (`json_bodies = True`); other services accept other media types
        (YAML, vendor JSON types), and answer for them in their own way."""
        if path.startswith("/_drydock"):
            return True
        return bool(getattr(self._index.owner(path), "json_bodies", False))

    async def _reject(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        message: str,
        error: ServiceError | None,
    ) -> None:
        from ._http import _render

        response = _render(self._index, None, scope["path"], status, message, error)
        await response(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] in _BODY_METHODS:
            limit = self._limit(scope["path"])
            headers = dict(scope["headers"])
            too_big = f"request body is larger than {limit} bytes, the limit for {scope['path']}"
            declared = headers.get(b"content-length", b"").strip()
            if declared.isdigit() and int(declared) > limit:
                return await self._reject(
                    scope, receive, send, 413, too_big, ResourceExhausted(too_big)
                )
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return await self._reject(
                        scope, receive, send, 413, too_big, ResourceExhausted(too_big)
                    )
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if body.strip() and self._json_only(scope["path"]):
                ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
                if not (ctype == b"application/json" or ctype.endswith(b"+json")):
                    shown = ctype.decode("latin-1") or "none"
                    msg = f"unsupported Content-Type {shown!r}: send application/json"
                    return await self._reject(scope, receive, send, 415, msg, InvalidArgument(msg))
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self._guarded(scope, replay, send)
        return await self._guarded(scope, receive, send)

    async def _guarded(self, scope, receive, send):
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            from ._http import InjectedConnectionReset

            if started or isinstance(exc, InjectedConnectionReset):
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await self._reject(
                scope, receive, send, 500, f"internal error: {type(exc).__name__}", None
            )
