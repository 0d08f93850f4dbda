"""The `drydock` command line (typer + rich).

    drydock serve [--port N] [--seed N] ...            the emulator as an HTTP server
    drydock run SCENARIO|FILE [--seed N] [--out DIR]   run, show live progress, check, report
    drydock replay LOG                                 re-run a recorded run; byte-identical?
    drydock list | show NAME | validate FILE

Each command group lives with what it drives (the server here, the scenario commands in
drydock.scenarios.commands) and is registered below in one line.

Exit codes: 0 all expectations hold (or: valid, identical); 1 an expectation failed (or: the
replay differs); 2 bad input: a bad scenario file, an unknown scenario, an unreadable log, or a
workload whose client library is not installed (the message names the extra to install).
"""

from __future__ import annotations

import typer

from drydock.wire import __version__

from . import _serve

__all__ = ["app", "main", "__version__"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="drydock: a local emulator and test harness for cloud training-job services.",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"drydock {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """drydock: a local emulator and test harness for cloud training-job services."""


def _register_scenario_commands(app: typer.Typer) -> None:
    from drydock.scenarios.commands import register

    register(app)


# One line per command group.
_serve.register(app)
_register_scenario_commands(app)


def main() -> None:
    app()
