"""drydock's pytest plugin, loaded through the `pytest11` entry point when drydock is installed.

Fixtures:

* `drydock`: a fresh in-process `Emulator` per test (virtual clock), closed afterwards.
* `drydock_server`: the same emulator served on an ephemeral loopback port (`.url`).
* `virtual_time`: the test thread's `time.sleep`/`time.time`/`monotonic` use the emulator's
  virtual clock (see `drydock.testing.virtual_time`).
* `fireworks_env`: `FIREWORKS_*` variables pointing at `drydock_server`, plus `.manager()`
  for a real `fireworks.training.sdk.TrainerJobManager`.
* `drydock_seed`: the seed the test's emulator uses.
* `scenario_result`: the result of the test's `@pytest.mark.scenario(name)`.

Markers: `@pytest.mark.drydock(seed=, faults=, timings=, catalog=, runtime=)` and
`@pytest.mark.scenario(name, **options)`. Option: `--drydock-seed N|random`.

When a test that used an emulator fails, its report gets a "drydock" section: the seed, a
command that replays the test with it, and the tail of the emulator's event log.

Heavy imports (the emulator, FastAPI, the fireworks SDK) happen inside fixtures, so loading
the plugin costs nothing in suites that never ask for drydock.

Many cores (pytest-xdist, `pytest -n auto`): every worker process builds its own emulators (one
per test), each with its own temporary data folder and its own ephemeral loopback port, and its
own virtual clocks, so tests never share state across workers. `--drydock-seed random` is drawn
once by the controller and handed to every worker, so one run uses one seed everywhere and the
printed replay command holds on any worker.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any, cast

import pytest

from ._config import EmulatorSettings, parse_seed_option, settings_for
from ._fireworks import FIREWORKS_ENV_VARS, FireworksEnv

__all__ = [
    "FireworksEnv",
    "EVENT_TAIL",
    "drydock",
    "drydock_server",
    "drydock_seed",
    "virtual_time",
    "fireworks_env",
    "scenario_result",
]

#: How many of the last events a failure report shows.
EVENT_TAIL = 25

_SETTINGS = pytest.StashKey[EmulatorSettings]()
_EMULATOR = pytest.StashKey[Any]()
_SCENARIO = pytest.StashKey[Any]()
_SEED_OPTION = pytest.StashKey[tuple]()


# ---------------------------------------------------------------- hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drydock", "drydock training-service emulator")
    group.addoption(
        "--drydock-seed",
        action="store",
        default=None,
        metavar="N|random",
        help="seed for every drydock emulator whose test does not pin one with "
        "@pytest.mark.drydock(seed=...); 'random' draws one per session (default: 0)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # `--hypothesis-profile=drydock-ci` must find the profile registered when hypothesis's
    # own plugin loads it (in its pytest_configure, after this one).
    profile = config.getoption("hypothesis_profile", None)
    if isinstance(profile, str) and profile.startswith("drydock-"):
        from . import _profiles  # noqa: F401  (registers the profiles)
    config.addinivalue_line(
        "markers",
        "drydock(seed=None, faults=None, timings=None, catalog=None, runtime=None): configure "
        "the test's drydock emulator (seed, a FaultPlan / list of faults / YAML, Timings, "
        "ShapeCatalog, TrainerRuntime)",
    )
    config.addinivalue_line(
        "markers",
        "scenario(name, seed=None, check=False, runtime=None): run a drydock scenario (built-in "
        "name or YAML path); its RunResult is the `scenario_result` fixture",
    )
    workerinput = getattr(config, "workerinput", None)  # an xdist worker: the controller's seed
    if workerinput is not None and "drydock_seed" in workerinput:
        config.stash[_SEED_OPTION] = tuple(workerinput["drydock_seed"])
        return
    try:
        config.stash[_SEED_OPTION] = parse_seed_option(config.getoption("drydock_seed"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller, per worker: send the session's seed (a `random` one is
    drawn once, here, not once per worker)."""
    node.workerinput["drydock_seed"] = list(node.config.stash.get(_SEED_OPTION, (None, False)))


def pytest_report_header(config: pytest.Config) -> str | None:
    seed, was_random = config.stash.get(_SEED_OPTION, (None, False))
    if seed is None:
        return None
    return f"drydock seed: {seed}" + (" (drawn at random)" if was_random else "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.failed and (_EMULATOR in item.stash or _SCENARIO in item.stash):
        try:
            report.sections.append(("drydock", failure_section(item)))
            report.user_properties.append(("drydock_seed", _used_seed(item)))
        except Exception as exc:  # the report must never hide the test's own failure
            report.sections.append(("drydock", f"(could not describe the emulator: {exc!r})"))
    return report


def _used_seed(item: pytest.Item) -> int:
    result = item.stash.get(_SCENARIO, None)
    return result.seed if result is not None else item.stash[_SETTINGS].seed


def failure_section(item: pytest.Item) -> str:
    """The text added to a failing test's report: seed, replay command, event-log tail."""
    lines: list[str] = []
    if _EMULATOR in item.stash:
        settings = item.stash[_SETTINGS]
        lines += [
            f"seed: {settings.seed} (from {settings.seed_source})",
            f"replay: {replay_command(item, settings.seed)}",
        ]
        lines += _event_tail("event log", list(item.stash[_EMULATOR].events))
    result = item.stash.get(_SCENARIO, None)
    if result is not None:
        lines += [
            f"scenario: {result.source} (seed {result.seed}, outcome {result.outcome}"
            f"{', ' + result.error if result.error else ''})",
            f"replay: {replay_command(item, result.seed)}",
            f"replay the scenario alone: {result.replay_command()}",
        ]
        lines += [f"  failed expectation: {c.name}: {c.detail}" for c in result.failures]
        lines += _event_tail("scenario event log", list(result.events))
    return "\n".join(lines)


def _event_tail(title: str, events: list) -> list[str]:
    shown = events[-EVENT_TAIL:]
    out = [f"{title} (last {len(shown)} of {len(events)} events; t = virtual seconds):"]
    out += ["  " + ev.to_json() for ev in shown] or ["  (empty)"]
    return out


def replay_command(item: pytest.Item, seed: int) -> str:
    return f"pytest {shlex.quote(item.nodeid)} --drydock-seed {seed}"


# ---------------------------------------------------------------- fixtures
def _settings(request: pytest.FixtureRequest) -> EmulatorSettings:
    node = request.node
    if _SETTINGS not in node.stash:
        seed, was_random = request.config.stash.get(_SEED_OPTION, (None, False))
        node.stash[_SETTINGS] = settings_for(node, seed, was_random)
    return node.stash[_SETTINGS]


@pytest.fixture
def drydock_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test's emulator (marker, then `--drydock-seed`, then 0)."""
    return _settings(request).seed


@pytest.fixture
def drydock(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh in-process `drydock.emulator.Emulator` on a virtual clock; closed after the test.

    `drydock.client()` is an httpx client wired to it in process; `drydock.advance(s)` moves
    its clock; `drydock.inject(plan)` adds faults; `drydock.events` is its event log."""
    from drydock.emulator import Emulator
    from drydock.emulator._validate import check_for

    s = _settings(request)
    emu = Emulator(seed=s.seed, timings=s.timings, catalog=s.catalog, runtime=s.runtime)
    request.node.stash[_EMULATOR] = emu
    if s.faults:  # a marker fault that could never fire (unknown route, at_step without a
        try:  # trainer) is an error before the test runs, not a silent no-op
            check_for(emu, s.faults)
        except BaseException:
            emu.close()
            raise
        emu.inject(s.faults)
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def drydock_server(drydock: Any) -> Iterator[Any]:
    """`drydock` served over HTTP on an ephemeral loopback port; `.url` is its base URL."""
    server = drydock.serve()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def virtual_time(drydock: Any) -> Iterator[Any]:
    """The test thread's `time.sleep` advances `drydock`'s virtual clock, and `time.time` /
    `time.monotonic` read it, for the whole test (other threads keep real time)."""
    from drydock.testing.virtual_time import virtual_time as _virtual_time

    with _virtual_time(drydock) as warp:
        yield warp


@pytest.fixture
def fireworks_env(drydock_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FireworksEnv]:
    """Point the real fireworks SDK at `drydock_server` (env vars undone after the test)."""
    emu = drydock_server.emulator
    env = FireworksEnv(
        base_url=drydock_server.url,
        api_key=emu.api_key,
        account_id=emu.account_id,
        gateway_url=drydock_server.url,
        emulator=emu,
    )
    for name, value in zip(
        FIREWORKS_ENV_VARS,
        (env.api_key, env.base_url, env.account_id, env.gateway_url),
        strict=False,
    ):
        monkeypatch.setenv(name, value)
    try:
        yield env
    finally:
        env.close()


@pytest.fixture
def scenario_result(request: pytest.FixtureRequest) -> Any:
    """The `drydock.scenarios.RunResult` of the test's `@pytest.mark.scenario(name, ...)`.

    Seed: the marker's `seed=`, else an explicit drydock marker seed or `--drydock-seed`,
    else the scenario file's own. `check=True` fails the test when an expectation fails."""
    from ._scenario import check_options, run_marked_scenario, scenario_seed

    mark = request.node.get_closest_marker("scenario")
    if mark is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the scenario_result fixture needs "
            "@pytest.mark.scenario('<name>') on the test"
        )
    if len(mark.args) != 1 or not isinstance(mark.args[0], str):
        raise pytest.UsageError(
            "scenario marker: give exactly one scenario name or YAML path, "
            "e.g. @pytest.mark.scenario('preempt-mid-step')"
        )
    check_options(mark.kwargs)
    settings = _settings(request)
    seed = scenario_seed(mark.kwargs.get("seed"), settings.seed, settings.seed_source)
    result = run_marked_scenario(mark.args[0], seed=seed, runtime=mark.kwargs.get("runtime"))
    request.node.stash[_SCENARIO] = result
    if mark.kwargs.get("check") and not result.passed:
        pytest.fail(
            f"scenario {result.source} (seed {result.seed}) failed: "
            + "; ".join(f"{c.name}: {c.detail}" for c in result.failures)
        )
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A scenario marker alone is enough: give the test the fixture that runs it.
    for item in items:
        if item.get_closest_marker("scenario") is not None and "scenario_result" not in getattr(
            item, "fixturenames", ()
        ):
            cast(pytest.Function, item).fixturenames.append("scenario_result")
