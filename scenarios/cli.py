"""The `drydock` command line (typer + rich)."""

from __future__ import annotations

import typer

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="drydock: a local emulator and test harness for cloud training-job services.")


@app.callback()
def _root() -> None:
    """drydock: a local emulator and test harness for cloud training-job services."""


@app.command()
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
        raise typer.BadParameter("speed must be >= 1 (virtual time never runs slower than wall time)")
    emu = Emulator(seed=seed, clock=lambda: ScaledClock(speed=speed), accounts={account: api_key},
                   admin_token=admin_token, runtime=_default_runtime)
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


def _default_runtime():
    """The torch trainer when it is available, else a runtime that trains nothing."""
    try:
        from drydock.trainer import default_runtime  # type: ignore[attr-defined]
    except ImportError:
        from drydock.emulator import NullRuntime

        return NullRuntime()
    return default_runtime()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
