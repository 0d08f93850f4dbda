"""The recipe of docs/testing.md, run for real: fuzz a training loop with random fault plans and
let hypothesis shrink a failure to the minimal plan.

The loop under test is deliberately broken: it never reconnects, so any preemption while it
trains makes it give up. Hypothesis must find that and shrink whatever plan it found first to a
single `Preempt`. It drives the real fireworks SDK over HTTP against an in-process drydock
server, with the client's sleeps on the emulator's virtual clock.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import threading
import time
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings

from drydock.emulator import Emulator, FaultPlan, Preempt
from drydock.testing import virtual_time
from drydock.testing.strategies import fault_plans

fireworks_sdk = pytest.importorskip("fireworks.training.sdk")

pytest_plugins = ["pytester"]

# Recipes run in their own interpreter (runpytest_subprocess): an in-process run would leave its
# hypothesis profile loaded for the tests after it, and torch cannot be imported twice.
_TORCH = importlib.util.find_spec("torch") is not None


class JobLost(RuntimeError):
    """The broken loop's way of giving up."""


def broken_training_loop(mgr, *, minutes: int = 60, poll_every_min: int = 30) -> str:
    """Create a trainer, then poll it for `minutes`; give up as soon as it is not RUNNING."""
    config = fireworks_sdk.TrainerJobConfig(base_model="accounts/fireworks/models/qwen3-0p6b")
    endpoint = mgr.create_and_wait(config, poll_interval_s=30)
    for _ in range(minutes // poll_every_min):
        time.sleep(poll_every_min * 60)  # one "training chunk"; virtual under virtual_time
        state = mgr.get(endpoint.job_id)["state"]
        if state != "JOB_STATE_RUNNING":
            raise JobLost(f"job {endpoint.job_id} is {state}; giving up (no reconnect)")
    return endpoint.job_id


@pytest.fixture(scope="module")
def arena():
    """One emulator, server and SDK client for every example; each example resets it."""
    with Emulator(seed=0) as emu, emu.serve() as server, _warm_virtual_time(emu):
        mgr = fireworks_sdk.TrainerJobManager(api_key=emu.api_key, base_url=server.url,
                                              trainer_gateway_url=server.url)
        yield emu, mgr
        mgr.close()


@contextlib.contextmanager
def _warm_virtual_time(emu):
    """Keep virtual_time's process-wide patches installed while the module runs (a parked
    thread holds a warp), so entering it once per example is cheap. Only a speed-up: every
    example still enters its own warp, and hypothesis itself keeps reading real time."""
    stop, ready = threading.Event(), threading.Event()

    def park() -> None:
        with virtual_time(emu):
            ready.set()
            stop.wait()

    thread = threading.Thread(target=park, name="drydock-warm-warp", daemon=True)
    thread.start()
    ready.wait()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_loop_under(arena, plan: FaultPlan) -> str:
    emu, mgr = arena
    emu.reset(seed=0)
    # No trainer here: an at_step fault would never fire (inject refuses it by default); the
    # search may draw some, and shrinks them away.
    emu.inject(plan, check=False)
    with virtual_time(emu):
        return broken_training_loop(mgr)


def test_the_loop_works_without_faults(arena):
    emu, _ = arena
    job_id = run_loop_under(arena, FaultPlan())
    assert emu.control_plane.get_job(emu.account_id, job_id).state.value == "RUNNING"
    assert emu.clock.elapsed() >= 3600  # an hour of virtual training, in wall milliseconds


def test_a_preemption_breaks_it(arena):
    with pytest.raises(JobLost, match="JOB_STATE_FAILED"):
        run_loop_under(arena, FaultPlan.of(Preempt(at_s=600)))


# Derandomized and without a database: the same search every run. No explain phase: it
# re-runs the loop to annotate the report, which costs time and proves nothing here.
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                report_multiple_bugs=False, print_blob=False,
                phases=[Phase.explicit, Phase.generate, Phase.shrink])


def test_fuzzing_shrinks_to_a_single_preemption(arena):
    tried: list[FaultPlan] = []

    @FUZZ
    @given(plan=fault_plans(max_faults=3))
    def loop_survives(plan):
        tried.append(plan)
        run_loop_under(arena, plan)

    with pytest.raises(Exception) as failure:
        loop_survives()
    # Hypothesis replays the minimal failing example last, and names it in the report.
    minimal = tried[-1]
    assert len(minimal.faults) == 1, minimal
    (fault,) = minimal.faults
    assert isinstance(fault, Preempt), minimal
    assert fault.rate_per_hour is None and fault.via is None  # the simplest preemption
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "loop_survives(" in notes and "Preempt(" in notes
    assert any(len(p.faults) > 1 or not isinstance(p.faults[0], Preempt)
               for p in tried if p.faults), "the search should have tried other plans first"


# ---------------------------------------------------------------- the recipes, as written
DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def _recipe(marker: str) -> str:
    text = DOC.read_text()
    return re.search(rf"<!-- recipe:{marker} -->\s*```python\n(.*?)```", text, re.S).group(1)


def test_no_recipe_pins_a_profile():
    assert _blocks() and not any("get_profile(" in b for b in _blocks())


def test_recipe_settings_honor_the_command_line_profile(pytester):
    shrink = next(b for b in _blocks() if "def test_loop_survives_faults" in b)
    decorator = re.search(r"^@settings\(.*?\)\n", shrink, re.S | re.M).group(0)
    pytester.makepyfile(test_profile="from hypothesis import Phase, given, settings\n"
                        "from hypothesis import strategies as st\n"
                        "import drydock.testing.strategies\nCALLS = []\n\n"
                        f"{decorator}@given(x=st.integers())\n"
                        "def test_count(x):\n    CALLS.append(x)\n\n\n"
                        "def test_zz_report():\n    print('EXAMPLES', len(CALLS))\n")
    out = pytester.runpytest_subprocess("-s", "-q", "--hypothesis-profile=drydock-ci")
    out.assert_outcomes(passed=2)
    assert "EXAMPLES 200" in out.stdout.str()  # drydock-ci's 200, not a pinned profile's 25


def test_invariant_recipe_runs_as_written(pytester):
    if not _TORCH:
        pytest.skip("the invariant recipe runs a torch trainer; torch is not installed")
    pytester.makeconftest("from hypothesis import settings\nsettings.register_profile("
                          "'recipe', max_examples=3, deadline=None, derandomize=True, "
                          "database=None)\n")
    pytester.makepyfile(test_invariant=_recipe("invariant"))
    out = pytester.runpytest_subprocess("-q", "--hypothesis-profile=recipe",
                                        "--hypothesis-show-statistics")
    out.assert_outcomes(passed=1)
    assert "3 passing" in out.stdout.str()
