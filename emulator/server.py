"""A real uvicorn server for an Emulator, in a thread of this process, on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import uvicorn

from ._http import InjectedConnectionReset

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs 3.11

    from .emulator import Emulator

__all__ = ["AsgiServerThread", "ServerThread", "is_loopback", "server_admin_token", "serve_forever"]


def _not_an_injected_reset(record: logging.LogRecord) -> bool:
    """uvicorn logs every app exception with a traceback; an injected reset is no error."""
    return not (record.exc_info and isinstance(record.exc_info[1], InjectedConnectionReset))


class _Server(uvicorn.Server):
    """uvicorn's server, woken at once by `wake()` instead of at its next 0.1 s tick: a short
    scenario run starts and stops one server, and that tick was half of its wall time."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            try:
                await asyncio.wait_for(self._wake.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        # uvicorn waits a fixed 0.1 s for open connections to drain; with none open (the
        # clients closed theirs) there is nothing to wait for. Lifespan is off.
        if self.server_state.connections or self.server_state.tasks or sockets:
            return await super().shutdown(sockets)
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()

    def wake(self) -> None:
        loop, event = self._loop, self._wake
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has closed already
                pass


class AsgiServerThread:
    """uvicorn serving an ASGI app on loopback in a daemon thread; `.url` once started."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, *, name: str = "drydock-server"
    ) -> None:
        # host/port given to uvicorn itself (not a socket bound by hand): a hand-bound socket
        # answered keep-alive requests ~44 ms late (Nagle/delayed ACK) when measured here.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # an open dashboard stream must not hold a stop forever
            timeout_graceful_shutdown=3,
        )
        self.server = _Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.host = host
        self.port = port

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self._thread.name} failed to start")
            time.sleep(0.005)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.wake()
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerThread(AsgiServerThread):
    """An Emulator's app on a real socket (`Emulator.serve()`)."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        # Installed when a server starts, not at import: importing drydock touches no logging.
        error_log = logging.getLogger("uvicorn.error")
        if _not_an_injected_reset not in error_log.filters:
            error_log.addFilter(_not_an_injected_reset)
        self.emulator = emulator
        super().__init__(emulator.app, host, port)


# ------------------------------------------------------------------ `drydock serve`
SERVER_DELETED_RETENTION_S = 3600.0  # a served emulator forgets deleted jobs after an hour
_LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    """Does binding `host` keep the server on this machine?"""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_admin_token(host: str, admin_token: str | None, open_admin: bool) -> str | None:
    """The admin token a `drydock serve` process runs with.

    Given: that one. None given: a fresh random one (printed beside the URL), so the test-only
    `/_drydock` routes are never open by accident. `open_admin` (`--no-admin-token`): none, on
    purpose, and only on a loopback address."""
    if admin_token is not None and open_admin:
        raise ValueError("give --admin-token or --no-admin-token, not both")
    if admin_token is not None:
        if not admin_token:
            raise ValueError("--admin-token must not be empty")
        return admin_token
    if open_admin:
        if not is_loopback(host):
            raise ValueError(
                f"refusing to bind {host} (not a loopback address) with the "
                "/_drydock routes open: drop --no-admin-token"
            )
        return None
    return secrets.token_urlsafe(24)


def serve_forever(
    *,
    host: str,
    port: int,
    seed: int,
    speed: float,
    account: str,
    api_key: str,
    admin_token: str | None = None,
    open_admin: bool = False,
    data_dir: str | None = None,
    runtime: Any = None,
    echo: Callable[[str], None] = print,
    listener_ports: dict[str, int] | None = None,
    dialect_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """What `drydock serve` does: build a server-mode emulator, announce it, serve until
    SIGTERM or Ctrl-C. Raises ValueError for a refused configuration (before binding):
    `dialect_options` (`configured_dialects`) included."""
    import signal

    from .clock import ScaledClock
    from .emulator import Emulator, configured_dialects
    from .records import Timings

    token = server_admin_token(host, admin_token, open_admin)
    dialects = configured_dialects(dialect_options) if dialect_options else None
    emu = Emulator(
        seed=seed,
        clock=lambda: ScaledClock(speed=speed),
        accounts={account: api_key},
        admin_token=token,
        runtime=runtime,
        data_dir=data_dir,
        server_mode=True,
        durable=data_dir is not None,
        timings=Timings(deleted_retention_s=SERVER_DELETED_RETENTION_S),
        dialects=dialects,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = emu.serve(host, port)
    from ._banner import serve_banner  # URL, account, key, clock, docs

    for line in serve_banner(
        server.url, account=account, api_key=api_key, speed=speed, admin_token=token
    ):
        echo(line)
    if token is not None and admin_token is None:
        echo(f"admin token: {token}")
    if data_dir is not None:
        echo(f"data dir: {data_dir} ({emu.restored} jobs restored)")
    for name, values in (dialect_options or {}).items():
        for option in values:  # as the mounted dialect holds it
            echo(f"dialect option: {name}.{option}={getattr(emu.dialect(name), option)!r}")
    echo(f"dashboard: {server.url}/" + (f"?token={token}" if token else ""))
    # Dialects that need a listener of their own (an endpoint whose paths would collide).
    closers = [
        c
        for d in emu.dialects
        for c in d.start_listeners(emu, host, (listener_ports or {}).get(d.name), echo)
    ]
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for close in closers:
            close()
        server.stop()
        emu.close()
