"""The pytest plugin, as a user meets it: test files run by pytester in this process."""

from __future__ import annotations

import re

import pytest

from drydock.scenarios import LIBRARY_DIR as LIBRARY

# The plugin's default runtime imports torch. pytester's in-process runs restore sys.modules
# afterwards, and torch imported a second time in one process crashes: import it out here.
try:
    import drydock.trainer.runtime  # noqa: F401
except ImportError:  # no torch: the default runtime is then none, nothing to protect
    pass

pytest_plugins = ["pytester"]

HELPERS = '''
import os
import pytest

JOBS = "/v1/accounts/drydock/rlorTrainerJobs"


def create(client, job_id):
    r = client.post(f"{JOBS}?rlorTrainerJobId={job_id}&skipValidations=true",
                    json={"trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-0p6b"}})
    assert r.status_code == 200, r.text
    return r.json()


def state(client, job_id):
    return client.get(f"{JOBS}/{job_id}").json()["state"]
'''


def test_the_plugin_is_loaded_through_its_entry_point(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("drydock")
    assert plugin is not None and plugin.__name__ == "drydock.testing.plugin"


def test_fixtures_work_in_a_users_test_file(pytester):
    pytester.makepyfile(HELPERS + '''
from drydock.emulator import Emulator, ServerThread

SEEN = {}


def test_in_process_emulator(drydock, drydock_seed):
    assert isinstance(drydock, Emulator) and drydock.seed == drydock_seed == 0
    with drydock.client() as c:
        create(c, "j1")
        assert state(c, "j1") == "JOB_STATE_CREATING"
        drydock.advance(30)  # the default provisioning time
        assert state(c, "j1") == "JOB_STATE_RUNNING"
    SEEN["first"] = drydock


def test_each_test_gets_a_fresh_emulator(drydock):
    assert drydock is not SEEN["first"] and drydock.clock.elapsed() == 0
    assert len(drydock.events) == 0


def test_server_and_virtual_time(drydock_server, virtual_time):
    import time
    import httpx
    assert isinstance(drydock_server, ServerThread)
    assert drydock_server.url.startswith("http://127.0.0.1:")
    emu = drydock_server.emulator
    with httpx.Client(base_url=drydock_server.url, headers={"X-Api-Key": emu.api_key}) as c:
        create(c, "j2")
        t0 = time.time()
        time.sleep(45)  # virtual: advances the emulator's clock, returns at once
        assert time.time() - t0 == pytest.approx(45)
        assert state(c, "j2") == "JOB_STATE_RUNNING"
    assert emu.clock.elapsed() == pytest.approx(45)


def test_fireworks_env_drives_the_real_sdk(fireworks_env, virtual_time):
    from fireworks.training.sdk import TrainerJobConfig, TrainerJobManager
    assert os.environ["FIREWORKS_BASE_URL"] == fireworks_env.base_url
    assert os.environ["FIREWORKS_TRAINER_GATEWAY_URL"] == fireworks_env.base_url
    assert os.environ["FIREWORKS_API_KEY"] == fireworks_env.api_key
    assert os.environ["FIREWORKS_ACCOUNT_ID"] == fireworks_env.account_id == "drydock"
    SEEN["url"] = fireworks_env.base_url
    mgr = fireworks_env.manager()
    assert isinstance(mgr, TrainerJobManager)
    endpoint = mgr.create_and_wait(
        TrainerJobConfig(base_model="accounts/fireworks/models/qwen3-0p6b"), timeout_s=900)
    assert mgr.get(endpoint.job_id)["state"] == "JOB_STATE_RUNNING"
    assert virtual_time.elapsed() >= 30  # provisioning took virtual time, not wall time


def test_the_environment_is_restored():
    assert os.environ.get("FIREWORKS_BASE_URL") != SEEN["url"]
''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_marker_seed_faults_and_timings_apply(pytester):
    pytester.makepyfile(HELPERS + '''
from drydock.emulator import FaultPlan, NullRuntime, Preempt


@pytest.mark.drydock(seed=42, faults=[Preempt(at_s=100)], timings={"provision_s": 10})
def test_marked(drydock, drydock_seed):
    assert drydock.seed == drydock_seed == 42
    with drydock.client() as c:
        create(c, "j1")
        drydock.advance(10)
        assert state(c, "j1") == "JOB_STATE_RUNNING"
        drydock.advance(100)
        assert state(c, "j1") == "JOB_STATE_FAILED"
    assert [e.kind for e in drydock.events.filter("fault.preempt")] == ["fault.preempt"]


@pytest.mark.drydock(faults="- {kind: cancel, at_s: 5}")
def test_yaml_faults(drydock):
    with drydock.client() as c:
        create(c, "j1")
        drydock.advance(20)
        assert state(c, "j1") == "JOB_STATE_CANCELLED"


def test_seed_changes_generated_ids(drydock):
    print("JOB-NAME", drydock.seed, new_job_name(drydock))


@pytest.mark.drydock(seed=0)
def test_same_seed_same_ids(drydock):
    print("JOB-NAME-AGAIN", drydock.seed, new_job_name(drydock))


def new_job_name(emu):
    with emu.client() as c:
        r = c.post(JOBS + "?skipValidations=true",
                   json={"trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-0p6b"}})
    return r.json()["name"]


class CountingRuntime(NullRuntime):
    started = []

    def start(self, job):
        CountingRuntime.started.append(job.id)
        super().start(job)


@pytest.mark.drydock(runtime=CountingRuntime, timings={"provision_s": 0})
def test_runtime_factory(drydock):
    assert isinstance(drydock.control_plane.runtime, CountingRuntime)
    with drydock.client() as c:
        create(c, "trained")
        drydock.advance(0)
    assert CountingRuntime.started == ["trained"]


@pytest.mark.drydock(seed=1, sed=2)
def test_bad_marker(drydock):
    pass
''')
    result = pytester.runpytest_inprocess("-q", "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=1)
    assert "drydock marker: unknown argument(s) ['sed']" in result.stdout.str()
    first = re.search(r"JOB-NAME 0 (\S+)", result.stdout.str()).group(1)
    assert re.search(r"JOB-NAME-AGAIN 0 (\S+)", result.stdout.str()).group(1) == first
    other = pytester.runpytest_inprocess("-q", "-s", "-p", "no:cacheprovider",
                                         "-k", "generated_ids", "--drydock-seed", "7")
    assert re.search(r"JOB-NAME 7 (\S+)", other.stdout.str()).group(1) != first


def test_a_failure_reports_seed_replay_command_and_event_tail(pytester):
    pytester.makepyfile(test_doomed=HELPERS + '''
@pytest.mark.drydock(seed=1234)
def test_doomed(drydock):
    with drydock.client() as c:
        create(c, "doomed-job")
    drydock.advance(30)
    assert False, "the training loop gave up"


def test_seed_from_the_command_line(drydock):
    drydock.advance(1)
    assert False


def test_no_emulator_no_section():
    assert False
''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--drydock-seed", "99")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*- drydock -*",
        "seed: 1234 (from marker)",
        "replay: pytest test_doomed.py::test_doomed --drydock-seed 1234",
        "event log (last * of * events; t = virtual seconds):",
        '*"job":"doomed-job","kind":"job.created"*',
        '*"dst":"RUNNING"*"job":"doomed-job"*',
    ])
    assert "seed: 99 (from option)" in out
    assert "replay: pytest test_doomed.py::test_seed_from_the_command_line --drydock-seed 99" in out
    assert out.count("- drydock -") == 2  # the test without an emulator gets no section
    assert "drydock seed: 99" in out  # the header


def test_seed_option_validation_and_random(pytester):
    pytester.makepyfile("def test_ok(drydock_seed):\n    print('SEED', drydock_seed)\n")
    bad = pytester.runpytest_inprocess("--drydock-seed", "soon")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--drydock-seed must be an integer or 'random'*"])
    rnd = pytester.runpytest_inprocess("-s", "-p", "no:cacheprovider", "--drydock-seed", "random")
    rnd.assert_outcomes(passed=1)
    header = re.search(r"drydock seed: (\d+) \(drawn at random\)", rnd.stdout.str())
    assert header and f"SEED {header.group(1)}" in rnd.stdout.str()


def test_markers_are_registered(pytester):
    result = pytester.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.drydock(seed=None, faults=None*",
                                 "@pytest.mark.scenario(name*"])


def test_scenario_marker_runs_a_builtin_scenario(pytester):
    pytester.makepyfile('''
import pytest


@pytest.mark.scenario("idle-auto-stop")
def test_builtin(scenario_result):
    assert scenario_result.passed, scenario_result.failures
    assert scenario_result.scenario.name == "idle-auto-stop"
    assert scenario_result.seed == scenario_result.scenario.seed  # the file's own seed
    assert any(e.kind == "fault.idle_stop" for e in scenario_result.events)


@pytest.mark.scenario("idle-auto-stop", seed=3)
def test_reported(scenario_result):
    assert scenario_result.seed == 3
    assert False, "look at the scenario"


@pytest.mark.scenario("no-such-scenario")
def test_marker_alone_runs_it():
    pass


@pytest.mark.scenario("strict.yaml", check=True)
def test_check_fails_on_a_missed_expectation():
    pass
''')
    strict = (LIBRARY / "idle-auto-stop.yaml").read_text().replace(
        "min_resumes: 2", "min_resumes: 99")
    pytester.path.joinpath("strict.yaml").write_text(strict)
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=2)
    result.stdout.fnmatch_lines(["*scenario strict.yaml (seed 10) failed:*"])
    result.stdout.fnmatch_lines([
        "scenario: idle-auto-stop (seed 3, outcome ok)",
        "replay: pytest test_scenario_marker_runs_a_builtin_scenario.py::test_reported "
        "--drydock-seed 3",
        "replay the scenario alone: drydock run idle-auto-stop --seed 3",
        "scenario event log (last * of * events; t = virtual seconds):",
    ])
    result.stdout.fnmatch_lines(["*no built-in scenario 'no-such-scenario'*"])


def test_hypothesis_profile_option_finds_drydock_profiles(pytester):
    pytester.makepyfile('''
from hypothesis import settings


def test_profile():
    assert settings().derandomize and settings().deadline is None
    assert settings().max_examples == 200
''')
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider",
                                           "--hypothesis-profile=drydock-ci")
    result.assert_outcomes(passed=1)
