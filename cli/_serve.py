"""`drydock serve`: the emulator as an HTTP server (every installed dialect + trainer gateway)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

__all__ = ["serve", "register", "default_runtime", "parse_dialect_options"]


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8765, help="port; 0 picks a free one"),
    seed: int = typer.Option(0, help="seed for every random choice"),
    speed: float = typer.Option(1.0, help="virtual seconds per wall second (>= 1)"),
    account: str = typer.Option("drydock", "--account", help="account id the API key maps to"),
    api_key: str = typer.Option("drydock-local-key", "--api-key", help="API key to accept"),
    admin_token: str = typer.Option(None, "--admin-token", help="require this token on /_drydock"),
    no_admin_token: bool = typer.Option(
        False, "--no-admin-token", help="leave /_drydock open (loopback only)"
    ),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="keep state in DIR (SQLite)"),
    aws_port: int = typer.Option(
        8766, "--aws-port", help="port of the AWS endpoint (SageMaker dialect); 0: a free one"
    ),
    dialect_option: Optional[list[str]] = typer.Option(
        None,
        "--dialect-option",
        "-O",
        metavar="DIALECT.OPTION=VALUE",
        help="set a dialect option, e.g. fireworks.rdma_weight_sync=true (repeatable)",
    ),
) -> None:
    """Run the emulator as an HTTP server (every installed dialect; a dialect that needs a
    listener of its own, like SageMaker's AWS endpoint, gets one and is announced)."""
    from drydock.emulator.server import serve_forever

    if speed < 1:
        raise typer.BadParameter(
            "speed must be >= 1 (virtual time never runs slower than wall time)"
        )
    try:
        serve_forever(
            host=host,
            port=port,
            seed=seed,
            speed=speed,
            account=account,
            api_key=api_key,
            admin_token=admin_token,
            open_admin=no_admin_token,
            data_dir=str(data_dir) if data_dir else None,
            runtime=default_runtime,
            echo=typer.echo,
            listener_ports={"sagemaker": aws_port},
            dialect_options=parse_dialect_options(dialect_option or []),
        )
    except ValueError as exc:  # a refused configuration, before binding
        raise typer.BadParameter(str(exc)) from None


def parse_dialect_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """`["fireworks.rdma_weight_sync=true"]` -> `{"fireworks": {"rdma_weight_sync": True}}`;
    values are read as YAML scalars (true, 3, 0.5, cpu), as in a scenario file."""
    import yaml  # type: ignore[import-untyped]

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        dialect, dot, option = key.strip().partition(".")
        if not (eq and dot and dialect and option):
            raise typer.BadParameter(
                f"{item!r}: expected DIALECT.OPTION=VALUE, e.g. fireworks.rdma_weight_sync=true",
                param_hint="--dialect-option",
            )
        out.setdefault(dialect, {})[option] = yaml.safe_load(raw) if raw.strip() else ""
    return out


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
