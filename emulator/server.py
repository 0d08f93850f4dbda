"""A real uvicorn server for an Emulator, in a thread of this process, on loopback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import uvicorn

from ._http import InjectedConnectionReset

__all__ = ["ServerThread"]


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

    async def shutdown(self, sockets=None) -> None:
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


class ServerThread:
    def __init__(self, emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        # Installed when a server starts, not at import: importing drydock touches no logging.
        error_log = logging.getLogger("uvicorn.error")
        if _not_an_injected_reset not in error_log.filters:
            error_log.addFilter(_not_an_injected_reset)
        self.emulator = emulator
        # host/port given to uvicorn itself (not a socket bound by hand): a hand-bound socket
        # answered keep-alive requests ~44 ms late (Nagle/delayed ACK) when measured here.
        config = uvicorn.Config(emulator.app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off")
        self.server = _Server(config)
        self.server.install_signal_handlers = lambda: None
        self._thread = threading.Thread(target=self.server.run, name="drydock-server", daemon=True)
        self.host = host
        self.port = port

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("drydock server failed to start")
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

    def __enter__(self) -> "ServerThread":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
