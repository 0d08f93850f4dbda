"""The plugin under pytest-xdist (`pytest -n 2`, in a subprocess): each worker process has its own
emulators, data folders, ports and clocks; `--drydock-seed random` is one seed everywhere."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("xdist")
pytest_plugins = ["pytester"]

USER_TESTS = '''
import json, os, time
import pytest

OUT = os.environ["DRYDOCK_XDIST_OUT"]


def record(**kw):
    kw["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(OUT, f"{kw['name']}.json"), "w") as f:
        json.dump(kw, f)


@pytest.mark.parametrize("n", range(6))
def test_each_test_its_own_server_clock_and_data(n, drydock_server, virtual_time, drydock_seed):
    emu = drydock_server.emulator
    time.sleep(3600 * (n + 1))                     # virtual: advances this test's clock only
    assert emu.clock.elapsed() == 3600 * (n + 1)
    client = emu.client()
    r = client.get("/v1/accounts/drydock/rlorTrainerJobs")
    assert r.status_code == 200, r.text
    (emu.data_dir / "marker").write_text(str(n))
    record(name=f"t{n}", port=drydock_server.port, data_dir=str(emu.data_dir),
           seed=drydock_seed, pid=os.getpid())
    client.close()


def test_fireworks_env_per_worker(fireworks_env, virtual_time, drydock_seed):
    mgr = fireworks_env.manager()
    assert mgr.try_get("missing") is None          # the real SDK reached this worker's server
    record(name="fw", port=fireworks_env.base_url.rsplit(":", 1)[1], data_dir="",
           seed=drydock_seed, pid=os.getpid())


def test_doomed(drydock, drydock_seed):
    drydock.advance(5)
    record(name="doomed", port=0, data_dir="", seed=drydock_seed, pid=os.getpid())
    assert drydock.clock.elapsed() == 6
'''


def test_pytest_n_2_gives_each_worker_its_own_emulators_and_one_seed(pytester, tmp_path,
                                                                     monkeypatch):
    out = tmp_path / "records"
    out.mkdir()
    pytester.makepyfile(test_user=USER_TESTS)
    monkeypatch.setenv("DRYDOCK_XDIST_OUT", str(out))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--drydock-seed", "random",
                                           "-q", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=7, failed=1)
    recs = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert len(recs) == 8
    assert {r["worker"] for r in recs} == {"gw0", "gw1"}  # both workers ran tests
    assert len({r["pid"] for r in recs}) == 2
    assert len({r["port"] for r in recs if r["port"]}) == 7  # a port per test's server
    data_dirs = [r["data_dir"] for r in recs if r["data_dir"]]
    assert len(set(data_dirs)) == 6
    (seed,) = {r["seed"] for r in recs}  # `random` drawn once, by the controller
    # the failing test's report (from its worker) names that seed and a replay that holds
    replay = f"*replay: pytest test_user.py::test_doomed --drydock-seed {seed}*"
    result.stdout.fnmatch_lines([f"*seed: {seed} (from random option)*", replay])
