"""`drydock serve`: the emulator as an HTTP server (every installed dialect + trainer gateway)."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["serve", "register", "default_runtime"]


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8765, help="port; 0 picks a free one"),
    seed: int = typer.Option(0, help="seed for every random choice"),
    speed: float = typer.Option(1.0, help="virtual seconds per wall second (>= 1)"),
    account: str = typer.Option("drydock", "--account", help="account id the API key maps to"),
    api_key: str = typer.Option("drydock-local-key", "--api-key", help="API key to accept"),
    admin_token: str = typer.Option(None, "--admin-token", help="require this token on /_drydock"),
) -> None:
    """Run the emulator as an HTTP server (Fireworks control plane + trainer gateway)."""
    import signal
    import threading

    from drydock.emulator import Emulator, ScaledClock

    if speed < 1:
        raise typer.BadParameter(
            "speed must be >= 1 (virtual time never runs slower than wall time)"
        )
    emu = Emulator(
        seed=seed,
        clock=lambda: ScaledClock(speed=speed),
        accounts={account: api_key},
        admin_token=admin_token,
        runtime=default_runtime,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = emu.serve(host, port)
    typer.echo(f"drydock listening on {server.url}")
    typer.echo(f"account: {account}")
    typer.echo(f"api key: {api_key}")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        emu.close()


def default_runtime() -> Any:
    """The torch trainer when it is installed (drydock[trainer]), else a runtime that trains
    nothing: the control plane still works."""
    try:
        from drydock.trainer.runtime import default_runtime as torch_runtime
    except ImportError:
        from drydock.emulator import NullRuntime

        return NullRuntime()
    return torch_runtime()


def register(app: typer.Typer) -> None:
    app.command()(serve)
