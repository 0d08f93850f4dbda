"""A real uvicorn server for an Emulator, in a thread of this process, on loopback."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from ._http import InjectedConnectionReset

__all__ = ["ServerThread"]


def _not_an_injected_reset(record: logging.LogRecord) -> bool:
    """uvicorn logs every app exception with a traceback; an injected reset is no error."""
    return not (record.exc_info and isinstance(record.exc_info[1], InjectedConnectionReset))



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
        self.server = uvicorn.Server(config)
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
        self._thread.join(timeout=10)

    def __enter__(self) -> "ServerThread":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
