"""The scenario commands of `drydock` (registered by drydock.cli): run, replay, list, show,
validate.

    drydock run SCENARIO|FILE [--seed N] [--out DIR]   run, show live progress, check, report
    drydock replay LOG                                 re-run a recorded run; byte-identical?
    drydock list | show NAME | validate FILE

Exit codes: 0 all expectations hold (or: valid, identical); 1 an expectation failed (or: the
replay differs); 2 a bad scenario file, an unknown scenario, an unreadable log, or a workload
whose client library is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from drydock.scenarios.errors import ScenarioFileError
    from drydock.scenarios.spec import Scenario

__all__ = ["register", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT"]


# ------------------------------------------------------------------ scenarios
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _load(ref: str) -> tuple[Scenario, str]:
    """(scenario, source) or exit 2 with every problem as file:line: message."""
    from drydock.scenarios.errors import ScenarioFileError, UnknownScenario
    from drydock.scenarios.library import resolve_scenario

    try:
        return resolve_scenario(ref)
    except ScenarioFileError as exc:
        _bad_file(exc)
    except UnknownScenario as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _require_extras(spec: Scenario, *, report: bool = False) -> None:
    """Exit 2, naming the extra to install, when a library the run needs is missing: the
    workload's client (and torch for a trainer workload), matplotlib for `--out`'s timeline."""
    from drydock.scenarios.workloads import get_workload, missing_extras, missing_modules

    try:
        info = get_workload(spec.workload.name)
    except KeyError:
        return  # the scenario's own validation reports an unknown workload
    missing = missing_extras(info)
    if missing:
        extras = ",".join(dict.fromkeys(extra for _, extra in missing))
        modules = ", ".join(module for module, _ in missing)
        verb = "is" if len(missing) == 1 else "are"
        typer.echo(
            f"error: workload {info.name!r} needs {modules}, which {verb} not installed: "
            f"pip install 'drydock-emulator[{extras}]'",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if report and missing_modules({"matplotlib": "report"}):
        typer.echo(
            "error: --out draws timeline.png with matplotlib, which is not installed: "
            "pip install 'drydock-emulator[report]'",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)


def _bad_file(exc: ScenarioFileError) -> NoReturn:
    n = len(exc.problems)
    typer.echo(f"invalid scenario ({n} problem{'s' if n != 1 else ''}):", err=True)
    for p in exc.problems:
        typer.echo(f"  {p}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def run_cmd(
    scenario: str = typer.Argument(
        ..., help="a built-in scenario name (see `drydock list`) or a YAML file"
    ),
    seed: Optional[int] = typer.Option(None, min=0, help="override the scenario's seed"),
    out: Optional[Path] = typer.Option(
        None, "--out", help="write events.jsonl, summary.json, timeline.png here"
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="live progress (only on a terminal)"),
    timeline_limit: int = typer.Option(60, help="rows of the timeline table (0: none)"),
    workload: Optional[str] = typer.Option(
        None, help="run another client program against the same faults, e.g. sft-broken"
    ),
) -> None:
    """Run a scenario: live progress, then a timeline and a pass/fail summary."""
    from drydock.scenarios.errors import ScenarioFileError
    from drydock.scenarios.live import LiveView
    from drydock.scenarios.report import print_summary, print_timeline, write_outputs
    from drydock.scenarios.runner import run_scenario

    spec, source = _load(scenario)
    if workload is not None:
        spec, source = _with_workload(spec, source, workload)
    _require_extras(spec, report=out is not None)
    used_seed = spec.seed if seed is None else seed
    console = _console()
    view = LiveView(spec, used_seed, console, enabled=live and console.is_terminal)
    try:
        with view:
            result = run_scenario(spec, seed=seed, source=source, on_event=view.on_event)
    except ScenarioFileError as exc:
        _bad_file(exc)
    except Exception:  # a drydock bug, not an expectation: still say how to reproduce it
        console.print_exception(max_frames=8)
        console.print(
            f"[bold red]CRASHED[/] {spec.name} (seed {used_seed}); replay: "
            f"drydock run {source} --seed {used_seed}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED) from None
    if timeline_limit:
        print_timeline(console, result, timeline_limit)
    if out is not None:
        meta = write_outputs(result, out)
        console.print(
            f"wrote {out / 'events.jsonl'}, {out / 'summary.json'}, "
            f"{out / 'timeline.png'} ({len(meta['lanes'])} lane(s))",
            soft_wrap=True,
        )
    print_summary(console, result, out)
    for warning in result.warnings:  # a fault that never fired is never silent
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)


def _with_workload(spec: Scenario, source: str, name: str) -> tuple[Scenario, str]:
    """The scenario with another workload (same params), re-validated; the source names the
    override so that replay commands stay exact."""
    from drydock.scenarios.errors import ScenarioFileError
    from drydock.scenarios.spec import validate_scenario_data

    data = spec.model_dump(mode="json")
    data["workload"]["name"] = name
    try:
        return validate_scenario_data(
            data, f"{source} --workload {name}"
        ), f"{source} --workload {name}"
    except ScenarioFileError as exc:
        _bad_file(exc)


def replay(
    log: Path = typer.Argument(
        ..., help="events.jsonl from `drydock run --out` (or that folder, or its summary.json)"
    ),
) -> None:
    """Re-run the scenario recorded in LOG and check the new log is byte-identical."""
    from drydock.scenarios.errors import ReplayMismatch, ScenarioFileError
    from drydock.scenarios.runner import replay_log

    path = (
        log / "events.jsonl"
        if log.is_dir()
        else (log.parent / "events.jsonl" if log.name == "summary.json" else log)
    )
    if not path.is_file():
        typer.echo(f"error: no such log: {path}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    from rich.markup import escape

    from drydock.scenarios.runner import scenario_from_log

    console = _console()
    try:
        spec, seed, source = scenario_from_log(path.read_text(), str(path))
        _require_extras(spec)
        result = replay_log(path)
    except ScenarioFileError as exc:
        _bad_file(exc)
    except ReplayMismatch as exc:
        console.print(f"[bold red]REPLAY DIFFERS[/] {escape(str(exc))}", soft_wrap=True)
        console.print(
            f"scenario {spec.name}, seed {seed}; run it again with: drydock run "
            f"{source} --seed {seed}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED) from None
    console.print(
        f"[bold green]IDENTICAL[/] replay of {path}: {len(result.events)} events, "
        f"scenario {result.scenario.name}, seed {result.seed}; expectations "
        + ("pass" if result.passed else "FAIL"),
        soft_wrap=True,
    )
    if not result.passed:
        print_failures = [f"  {c.name}: {c.detail}" for c in result.failures]
        console.print("\n".join(print_failures))
        console.print(f"replay: drydock replay {path}", soft_wrap=True)
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FAILED)


def list_cmd() -> None:
    """The built-in scenarios."""
    from drydock.scenarios._listing import scenario_list_lines

    typer.echo("\n".join(scenario_list_lines()))


def show(name: str = typer.Argument(..., help="a built-in scenario name or a file")) -> None:
    """Print a scenario file."""
    from rich.syntax import Syntax

    from drydock.scenarios.errors import UnknownScenario
    from drydock.scenarios.library import builtin_path

    path = Path(name)
    if not path.is_file():
        try:
            path = builtin_path(name)
        except UnknownScenario as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
    console = _console()
    if not console.is_terminal:  # piped (`drydock show X > mine.yaml`): the exact text
        typer.echo(f"# from {path}\n{path.read_text()}", nl=False)
        return
    console.print(f"# from {path}", highlight=False, soft_wrap=True)
    console.print(Syntax(path.read_text(), "yaml", word_wrap=True))


def validate(
    file: str = typer.Argument(..., help="a scenario YAML file (or built-in name)"),
) -> None:
    """Check a scenario file; print each problem as file:line: path: message (exit 2)."""
    spec, source = _load(file)
    typer.echo(
        f"ok: {source}: scenario {spec.name}, workload {spec.workload.name}, "
        f"{len(spec.jobs)} job(s), {len(spec.faults)} fault(s), seed {spec.seed}"
    )


def register(app: typer.Typer) -> None:
    """Add the scenario commands to the `drydock` app."""
    from drydock.scenarios._sweep_cli import SweepCommand, sweep_command

    app.command("run")(run_cmd)
    app.command()(replay)
    app.command("list")(list_cmd)
    app.command()(show)
    app.command()(validate)
    app.command("sweep", cls=SweepCommand)(sweep_command)
