"""A read-only dashboard at `/`: jobs per account with their state timelines, checkpoints, armed
and fired faults, the virtual clock, and the event stream live over server-sent events.

Server-rendered from `dashboard.html` (string.Template, every value escaped); the page's only
script subscribes to `GET /_drydock/dashboard/stream`. No build step, no assets. With an admin
token configured, both need it (`?token=` for a browser, or the X-Drydock-Admin-Token header)."""

from __future__ import annotations

import asyncio
import hmac
import json
from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from .clock import rfc3339
from .errors import PermissionDenied, Unauthenticated

if TYPE_CHECKING:
    from .control_plane import ControlPlane

__all__ = ["dashboard_router", "render_dashboard"]

_TEMPLATE = Template((Path(__file__).parent / "dashboard.html").read_text())
_POLL_S = 0.25  # real seconds between looks at the log, per open page
_SHOWN_EVENTS = 500  # the page starts with the newest events; the stream adds the rest


def _token_of(request: Request) -> str | None:
    """The admin token the caller gave (None when the server needs none)."""
    token = request.app.state.admin_token
    if token is None:
        return None
    given = request.query_params.get("token") or request.headers.get("x-drydock-admin-token")
    if not given:
        raise Unauthenticated("the dashboard needs the admin token: open /?token=<admin token>")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise PermissionDenied("wrong admin token")
    return given


def _fmt_t(t: float) -> str:
    return f"{t:g}"


def render_dashboard(cp: ControlPlane, title: str, seed: int, stream_url: str) -> str:
    with cp.lock:
        cp.tick()
        timelines: dict[tuple[str, str], list[tuple[float, str]]] = {}
        for e in cp.events:
            if e.kind == "job.state" and e.job:
                timelines.setdefault((e.account, e.job), []).append((e.t, e.detail["dst"]))
        fired: dict[str, int] = {}
        for e in cp.events:
            if (
                e.kind.startswith("fault.")
                and e.kind != "fault.injected"
                and e.detail.get("fired", True)
            ):
                kind = e.kind.removeprefix("fault.")
                fired[kind] = fired.get(kind, 0) + 1
        by_account: dict[str, list] = {}
        for job in sorted(cp.jobs.values(), key=lambda j: (j.create_time, j.id)):
            by_account.setdefault(job.account, []).append(job)
        sections = []
        for account in sorted(by_account):
            rows = []
            for job in by_account[account]:
                state = job.state.value if job.state else "UNSPECIFIED"
                chips = "".join(
                    f'<span class="chip {escape(s)}">{escape(s)} @{_fmt_t(t)}s</span>'
                    for t, s in timelines.get(job.key, [])
                )
                rows.append(
                    f'<tr id="job-{escape(job.account)}-{escape(job.id)}">'
                    f"<td><code>{escape(job.id)}</code></td><td>{escape(job.dialect)}</td>"
                    f'<td class="state {escape(state)}">{escape(state)}</td>'
                    f'<td class="timeline">{chips}</td>'
                    f"<td>{escape(job.status_message)}</td></tr>"
                )
            sections.append(
                f"<h2>Account <code>{escape(account)}</code> · {len(rows)} jobs</h2>"
                "<table><tr><th>job</th><th>service</th><th>state</th><th>timeline</th>"
                f"<th>status</th></tr>{''.join(rows)}</table>"
            )
        if not sections:
            sections.append('<h2>Jobs</h2><p class="muted">no jobs yet</p>')
        faults = (
            "".join(
                f"<tr><td>{escape(f.kind)}</td><td><code>{escape(f.target() or '*')}</code></td>"
                f"<td>{fired.get(f.kind, 0)}</td></tr>"
                for f in cp.faults
            )
            or '<tr><td colspan="3" class="muted">none armed</td></tr>'
        )
        ckpts = (
            "".join(
                f"<tr><td><code>{escape(r.job)}</code></td><td><code>{escape(r.name)}</code></td>"
                f"<td>{escape(r.kind)}</td><td>{rfc3339(r.create_time)}</td></tr>"
                for rows in cp.checkpoints.values()
                for r in rows.values()
            )
            or '<tr><td colspan="4" class="muted">none</td></tr>'
        )
        events = list(cp.events)
        shown = events[-_SHOWN_EVENTS:]
        return _TEMPLATE.substitute(
            title=escape(title),
            clock=rfc3339(cp.clock.now()),
            elapsed=_fmt_t(round(cp.clock.elapsed(), 3)),
            clock_kind=escape(cp.clock.kind),  # type: ignore[attr-defined]
            seed=seed,
            accounts="".join(sections),
            faults=faults,
            checkpoints=ckpts,
            events=escape("".join(e.to_json() + "\n" for e in shown)),
            count=len(events),
            stream_url=json.dumps(stream_url),
        )


def dashboard_router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/", name="drydock.dashboard", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        token = _token_of(request)
        emu = request.app.state.emulator
        stream = "/_drydock/dashboard/stream" + (f"?token={quote(token)}" if token else "")
        cp = emu.control_plane
        return HTMLResponse(render_dashboard(cp, request.url.netloc, emu.seed, stream))

    @r.get("/_drydock/dashboard/stream", name="drydock.dashboard.stream")
    async def stream(request: Request) -> StreamingResponse:
        _token_of(request)
        emu = request.app.state.emulator
        start = len(emu.events)

        async def events():
            cursor, cp = start, emu.control_plane
            last_clock = None
            yield ": drydock event stream\n\n"
            while not await request.is_disconnected():
                if emu.control_plane is not cp:  # a reset: a fresh log
                    cp, cursor = emu.control_plane, 0
                with cp.lock:
                    cp.tick()  # a wall or scaled clock fires what came due
                    new = cp.events.since(cursor)
                    clock = {
                        "now": rfc3339(cp.clock.now()),
                        "elapsed": round(cp.clock.elapsed(), 3),
                    }
                cursor += len(new)
                for e in new:
                    yield f"event: drydock\ndata: {e.to_json()}\n\n"
                if clock != last_clock:
                    last_clock = clock
                    yield f"event: clock\ndata: {json.dumps(clock)}\n\n"
                await asyncio.sleep(_POLL_S)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    return r
