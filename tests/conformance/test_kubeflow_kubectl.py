"""kubectl, a second real client, against `drydock serve`: a user debugging a running 2-node
TrainJob (get, describe, logs, delete)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("kubeflow.trainer")

from _kubeflow_support import remote_warp, waits_for_file
from kubeflow.trainer import CustomTrainer
from kubeflow.trainer.options import Name

from drydock.emulator.dialects.kubeflow import trainer_client

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (scripts/setup.sh installs Debian's "
    "kubernetes-client when run as root)")

ADMIN = "kubectl-test-admin"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: drydock
  cluster: {{server: "{url}/k8s"}}
users:
- name: drydock
  user: {{token: "{key}"}}
contexts:
- name: drydock
  context: {{cluster: drydock, user: drydock, namespace: default}}
current-context: drydock
"""


@pytest.fixture
def served(tmp_path):
    """`drydock serve` in its own process; kubectl sends no token over http, so the
    dialect's anonymous account is switched on (DRYDOCK_KUBEFLOW_ANONYMOUS)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DRYDOCK_KUBEFLOW_ANONYMOUS": "drydock"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "drydock.cli", "serve", "--port", "0", "--aws-port", "0",
         "--speed", "100", "--admin-token", ADMIN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("drydock listening on "), line
        url = line.split()[-1]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(KUBECONFIG.format(url=url, key="drydock-local-key"))
        yield url, kubeconfig
    finally:
        proc.terminate()
        proc.wait(20)


def kubectl(kubeconfig: Path, *args: str) -> str:
    out = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_kubectl_gets_describes_logs_and_deletes_a_running_two_node_job(served, tmp_path):
    url, kubeconfig = served
    client = trainer_client(url, "drydock-local-key")
    client.train(trainer=CustomTrainer(func=waits_for_file, num_nodes=2,
                                       func_args={"gate": str(tmp_path / "never")}),
                 options=[Name("debug-me")])
    with remote_warp(url, ADMIN):
        assert client.wait_for_job_status("debug-me", {"Running"}).status == "Running"

    jobs = kubectl(kubeconfig, "get", "trainjobs")
    assert jobs.split("\n")[0].split() == ["NAME", "STATE", "AGE"]
    assert jobs.split("\n")[1].split()[:2] == ["debug-me", "Running"]
    pods = kubectl(kubeconfig, "get", "pods", "-l", "jobset.sigs.k8s.io/jobset-name=debug-me")
    rows = [r.split() for r in pods.strip().split("\n")[1:]]
    assert [r[1:4] for r in rows] == [["1/1", "Running", "0"]] * 2
    assert [r[0].rsplit("-", 1)[0] for r in rows] == ["debug-me-node-0-0", "debug-me-node-0-1"]

    described = kubectl(kubeconfig, "describe", "trainjob", "debug-me")
    assert "Num Nodes:  2" in described and "torchrun" in described
    assert "JobsCreationSucceeded" in described
    pod_described = kubectl(kubeconfig, "describe", "pod", rows[1][0])
    assert "PET_NODE_RANK:" in pod_described and "Status:       Running" in pod_described

    # Follow the rank-1 pod's log: its first line arrives while the job is still running.
    follow = subprocess.Popen([KUBECTL, "--kubeconfig", str(kubeconfig), "logs", "-f",
                               rows[1][0]], stdout=subprocess.PIPE, text=True)
    try:
        assert follow.stdout.readline() == "first line\n"
    finally:
        follow.kill()
        follow.wait(10)

    assert kubectl(kubeconfig, "delete", "trainjob", "debug-me").strip() == \
        'trainjob.trainer.kubeflow.org "debug-me" deleted'
    assert "No resources found" in subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "trainjobs,pods"],
        capture_output=True, text=True, timeout=60).stderr
    with pytest.raises(RuntimeError, match="Failed to get TrainJob: default/debug-me"):
        client.get_job("debug-me")
