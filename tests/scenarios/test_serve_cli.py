"""`drydock serve` as a user runs it: a separate process on loopback, announcing its URL."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

CLI = [sys.executable, "-m", "drydock.cli"]


@pytest.fixture
def served():
    proc = subprocess.Popen(
        CLI + ["serve", "--port", "0", "--seed", "3", "--speed", "10", "--account", "acme",
               "--api-key", "k1", "--admin-token", "t0k"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()  # blocks until the server has bound its port
        lines = [first, proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        yield proc, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_serve_announces_then_answers_the_control_plane(served):
    proc, lines = served
    assert lines[0].startswith("drydock listening on http://127.0.0.1:"), lines
    assert lines[1:] == ["account: acme", "api key: k1"]
    url = lines[0].rsplit(" ", 1)[1]
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/v1/accounts", headers={"X-Api-Key": "k1"}).json()["accounts"][0]["name"] \
            == "accounts/acme"
        assert http.get("/v1/accounts", headers={"X-Api-Key": "nope"}).status_code == 401
        # the test-only routes need the admin token
        assert http.get("/_drydock/clock").status_code == 401
        assert http.get("/_drydock/clock", headers={"X-Drydock-Admin-Token": "bad"}).status_code == 403
        admin = {"X-Drydock-Admin-Token": "t0k", "X-Api-Key": "k1"}
        assert http.get("/_drydock/clock", headers=admin).json()["kind"] == "scaled"
        r = http.post("/v1/accounts/acme/rlorTrainerJobs?skipValidations=true&rlorTrainerJobId=j1",
                      headers=admin, json={"trainingConfig": {
                          "baseModel": "accounts/fireworks/models/qwen3-0p6b"}})
        assert r.status_code == 200 and r.json()["state"] == "JOB_STATE_CREATING"
        http.post("/_drydock/clock/advance", headers=admin, json={"seconds": 31})
        assert http.get("/v1/accounts/acme/rlorTrainerJobs/j1", headers=admin).json()["state"] \
            == "JOB_STATE_RUNNING"
        assert "openapi" in http.get("/openapi.json").json()
        assert "/_drydock/faults" in http.get("/openapi.json").json()["paths"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_serve_refuses_a_speed_below_wall_time():
    done = subprocess.run(CLI + ["serve", "--port", "0", "--speed", "0.5"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "speed must be >= 1" in done.stdout + done.stderr


def test_serve_sets_dialect_options_and_refuses_unknown_ones():
    proc = subprocess.Popen(
        CLI + ["serve", "--port", "0", "--no-admin-token", "-O", "fireworks.rdma_weight_sync=true"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("dashboard: "):  # the banner's last line
            lines.append(proc.stdout.readline())  # "" at EOF: the server died
        lines = [line.strip() for line in lines]
        # the banner reads the option back from the mounted dialect
        assert "dialect option: fireworks.rdma_weight_sync=True" in lines, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    for bad, words in (("fireworks.rdma=true", "no option 'rdma'"),
                       ("fireworks.rdma_weight_sync=1", "takes a bool"),
                       ("rdma_weight_sync=true", "DIALECT.OPTION=VALUE")):
        done = subprocess.run(CLI + ["serve", "--port", "0", "-O", bad], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2 and words in done.stderr, (bad, done.stderr)
