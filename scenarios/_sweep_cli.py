"""`drydock sweep`: one scenario under many seeds, on every core here or on a Ray cluster.

    drydock sweep create-response-lost --seeds 1-10000 --fuzz-faults --out runs/sweep
    drydock sweep my.yaml --seeds 1-100000 --ray ray://head:10001 --stop-after-failures 20

Exit codes: 0 every run passed; 1 a run failed (each failure group with its smallest seed, the
command that replays it and its minimized fault plan); 2 bad input (an unknown scenario or a bad
file, an empty or reversed seed range, a Ray cluster that does not answer).

Registered in the CLI app with `app.command("sweep", cls=SweepCommand)(sweep_command)`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from .spec import Scenario

__all__ = ["sweep_command", "SweepCommand"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _load(ref: str) -> tuple[Scenario, str]:
    from .errors import ScenarioFileError, UnknownScenario
    from .library import resolve_scenario

    try:
        return resolve_scenario(ref)
    except ScenarioFileError as exc:
        n = len(exc.problems)
        typer.echo(f"invalid scenario ({n} problem{'s' if n != 1 else ''}):", err=True)
        for p in exc.problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except UnknownScenario as exc:
        _fail(str(exc))


_RAY_OPTION: Any = typer.Option(
    None,
    "--ray",
    metavar="[ADDRESS]",
    help="run as Ray tasks: on the cluster at ADDRESS (host:port, ray://host:port or auto), "
    "or, with no address, on a local Ray started for this sweep",
)
_ADDRESS = re.compile(r"^(auto|local|ray://\S+|[^-\s][^\s]*:\d+)$")


class SweepCommand(TyperCommand):
    """Lets `--ray` stand alone (`--ray` = `--ray local`): Typer has no optional-value options,
    so a `--ray` not followed by an address (auto, local, host:port, ray://...) gets one."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        fixed: list[str] = []
        for i, arg in enumerate(args):
            nxt = args[i + 1] if i + 1 < len(args) else None
            fixed.append(
                "--ray=local"
                if arg == "--ray" and (nxt is None or not _ADDRESS.match(nxt))
                else arg
            )
        return super().parse_args(ctx, fixed)


def sweep_command(
    scenario: str = typer.Argument(..., help="a built-in scenario name or a YAML file"),
    seeds: str = typer.Option("1-100", "--seeds", help="seeds to run, FIRST-LAST inclusive"),
    fuzz_faults: bool = typer.Option(
        False,
        "--fuzz-faults",
        help="add a random fault plan per seed, drawn within the scenario's own bounds",
    ),
    max_faults: int = typer.Option(
        3, "--max-faults", min=1, help="random faults per seed, at most (with --fuzz-faults)"
    ),
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        min=1,
        help="local worker processes (default: one per core; 1 runs in this process)",
    ),
    ray: Optional[str] = _RAY_OPTION,
    out: Optional[Path] = typer.Option(
        None, "--out", help="write runs.jsonl, summary.json, outcomes.png and failures/*.yaml here"
    ),
    stop_after_failures: Optional[int] = typer.Option(
        None, "--stop-after-failures", min=1, help="stop after K failed runs"
    ),
    minimize: bool = typer.Option(
        True,
        "--minimize/--no-minimize",
        help="shrink each group's smallest failing plan to the fewest faults",
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="live progress (on a terminal)"),
) -> None:
    """Run a scenario once per seed (local processes or Ray) and group the failures."""
    import logging

    from .sweep import RayUnavailable, SweepError, make_backend, parse_seeds, run_sweep

    spec, source = _load(scenario)
    try:
        seed_range = parse_seeds(seeds)
    except SweepError as exc:
        _fail(str(exc))
    if not logging.getLogger().handlers:  # the client library's per-run warnings: not here
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        backend = make_backend(
            workers, ray=ray is not None, ray_address=None if ray in (None, "local") else ray
        )
    except (SweepError, RayUnavailable) as exc:
        _fail(str(exc))
    from rich.console import Console

    console = Console(highlight=False)
    progress = _Progress(console, len(seed_range), enabled=live and console.is_terminal, plain=live)
    console.print(
        f"sweep {spec.name}: seeds {seed_range.start}-{seed_range.stop - 1} "
        f"({len(seed_range)} runs){' with fuzzed faults' if fuzz_faults else ''} on "
        f"{backend.name} ({backend.workers} worker{'s' if backend.workers != 1 else ''})",
        soft_wrap=True,
    )
    try:
        with backend, progress:
            result = run_sweep(
                spec,
                seed_range,
                source=source,
                fuzz_faults=fuzz_faults,
                max_faults=max_faults,
                backend=backend,
                stop_after_failures=stop_after_failures,
                minimize=minimize,
                on_row=progress.row,
            )
    except SweepError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]; workers stopped")
        raise typer.Exit(130) from None
    if out is not None:
        from ._sweep_report import write_sweep_outputs

        write_sweep_outputs(result, spec, out)
    _print_summary(console, result, out)
    raise typer.Exit(EXIT_OK if result.failed == 0 else EXIT_FAILED)


class _Progress:
    """Runs done, runs per second, failures so far, ETA: a rich bar on a terminal, else (CI
    logs) a plain line at every tenth of the sweep."""

    def __init__(self, console: Any, total: int, enabled: bool, plain: bool = True) -> None:
        import time

        self.console, self.total, self.done, self.failures = console, total, 0, 0
        self._t0 = time.perf_counter()
        self._every = max(1, total // 10) if plain else 0
        self._bar = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f} runs/s"),
                TextColumn("[red]{task.fields[failures]} failed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task("sweep", total=total, rate=0.0, failures=0)

    def row(self, row: dict) -> None:
        import time

        self.done += 1
        self.failures += not row["passed"]
        elapsed = time.perf_counter() - self._t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failures=self.failures, rate=rate)
        elif self._every and (self.done % self._every == 0 or self.done == self.total):
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            self.console.print(
                f"  {self.done}/{self.total} runs, {rate:.1f} runs/s, "
                f"{self.failures} failed, ETA {eta:.0f} s",
                soft_wrap=True,
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print_summary(console: Any, result: Any, out: Optional[Path]) -> None:
    import yaml  # type: ignore[import-untyped]
    from rich.markup import escape
    from rich.table import Table

    n = len(result.rows)
    verdict = "[bold green]ALL PASSED[/]" if result.failed == 0 else "[bold red]FAILURES[/]"
    console.print(
        f"{verdict} {result.scenario}: {result.passed} passed, {result.failed} failed "
        f"of {n} runs in {result.wall_s:.1f} s ({result.runs_per_s:.1f} runs/s, "
        f"{result.backend}, {result.workers} worker(s))"
        + (" - stopped early (--stop-after-failures)" if result.stopped_early else ""),
        soft_wrap=True,
    )
    if result.groups:
        table = Table(title="failures by expectation")
        for col in ("failed expectation(s)", "runs", "smallest seed", "first error"):
            table.add_column(col, overflow="fold")
        for g in result.groups:
            table.add_row(
                escape(g.key),
                str(g.count),
                str(g.smallest_seed),
                escape(
                    (
                        g.example.get("error")
                        or next(iter(g.example.get("checks", {}).values()), "")
                    )[:160]
                ),
            )
        console.print(table)
    for g in result.groups:
        console.print(
            f"[bold]{escape(g.key)}[/]: smallest seed {g.smallest_seed}; replay: "
            f"{escape(g.replay)}",
            soft_wrap=True,
        )
        if g.minimized_faults is not None:
            console.print(
                f"  minimized fault plan ({len(g.minimized_faults)} of "
                f"{len(g.example.get('faults') or [])} faults, {g.minimize_runs} "
                f"runs){':' if g.minimized_faults else ': no fault needed'}",
                soft_wrap=True,
            )
            for f in g.minimized_faults:
                flow = yaml.safe_dump(f, default_flow_style=True, sort_keys=False, width=10**6)
                console.print(f"    - {escape(flow.strip())}", soft_wrap=True)
        if g.replay_minimized:
            console.print(
                f"  replay the minimized plan: {escape(g.replay_minimized)}", soft_wrap=True
            )
    if out is not None:
        console.print(
            f"wrote {out / 'runs.jsonl'}, {out / 'summary.json'}, {out / 'outcomes.png'}",
            soft_wrap=True,
        )
