"""The Kubeflow dialect's Kubernetes API at the HTTP level (in process, virtual clock): Status
errors, validation, label selectors, auth, pods and conditions as the core job moves."""

from __future__ import annotations

import json

import pytest

from drydock.emulator import FaultPlan, HttpFault
from drydock.emulator.dialects.kubeflow import KubeflowDialect, kubeflow_emulator
from drydock.emulator.dialects.kubeflow._k8s import K8sError, parse_selector, selector_matches

TJ = "/k8s/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs"
SDK_SELECTOR = ("jobset.sigs.k8s.io/jobset-name={},jobset.sigs.k8s.io/replicatedjob-name in "
                "(dataset-initializer, model-initializer, launcher, node)")


def manifest(name: str, command: list[str] | None = None, nodes: int = 1, **trainer) -> dict:
    trainer = {"numNodes": nodes, **trainer}
    if command is not None:
        trainer["command"] = command
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": name},
            "spec": {"runtimeRef": {"kind": "ClusterTrainingRuntime", "name": "torch-distributed"},
                     "trainer": trainer}}


@pytest.fixture
def kf():
    emu = kubeflow_emulator(seed=3)
    client = emu.client(headers={"Authorization": f"Bearer {emu.api_key}"})
    yield emu, client
    client.close()
    emu.close()


def test_label_selectors_follow_the_api_server_grammar():
    reqs = parse_selector(SDK_SELECTOR.format("job-a"))
    labels = {"jobset.sigs.k8s.io/jobset-name": "job-a",
              "jobset.sigs.k8s.io/replicatedjob-name": "node"}
    assert selector_matches(reqs, labels)
    assert not selector_matches(reqs, {**labels, "jobset.sigs.k8s.io/jobset-name": "job-b"})
    assert not selector_matches(reqs, {**labels, "jobset.sigs.k8s.io/replicatedjob-name": "x"})
    assert selector_matches(parse_selector("a!=1,!b,c notin (x)"), {"a": "2", "c": "y"})
    assert not selector_matches(parse_selector("a"), {})
    with pytest.raises(K8sError) as err:
        parse_selector("a in b")
    assert err.value.code == 400


def test_requests_without_a_token_get_a_401_status(kf):
    emu, _ = kf
    with emu.client(headers={"X-Api-Key": ""}) as anon:
        resp = anon.get("/k8s/api", headers={"X-Api-Key": ""})
    assert resp.status_code == 401
    assert resp.json()["kind"] == "Status" and resp.json()["reason"] == "Unauthorized"


def test_an_anonymous_account_serves_kubectl_over_http():
    emu = kubeflow_emulator(dialect=KubeflowDialect(anonymous_account="drydock"))
    with emu, emu.client() as c:
        assert c.get("/k8s/apis").json()["groups"][0]["name"] == "trainer.kubeflow.org"


@pytest.mark.parametrize("body, field, message", [
    (manifest("Bad_Name"), "metadata.name", "a lowercase RFC 1035 label"),
    (manifest("x" * 64), "metadata.name", "a lowercase RFC 1035 label"),
    (manifest("zero", nodes=0), "spec.trainer.numNodes", "greater than or equal to 1"),
    (manifest("env", env=[{"name": "PET_NNODES", "value": "9"}]), "spec.trainer.env",
     "must not have reserved envs, invalid envs configured: ['PET_NNODES']"),
    ({**manifest("noref"), "spec": {"trainer": {}}}, "spec.runtimeRef.name", "Required value"),
    ({**manifest("rt"), "spec": {"runtimeRef": {"name": "nope"}}}, "spec.runtimeRef",
     "ClusterTrainingRuntime nope not found"),
])
def test_bad_manifests_get_a_422_invalid_status(kf, body, field, message):
    _, c = kf
    resp = c.post(TJ, json=body)
    assert resp.status_code == 422
    status = resp.json()
    assert status["kind"] == "Status" and status["reason"] == "Invalid" and status["code"] == 422
    assert status["message"].startswith("TrainJob.trainer.kubeflow.org ")
    assert {"reason": "FieldValueInvalid", "field": field} .items() <= \
        status["details"]["causes"][0].items()
    assert message in status["details"]["causes"][0]["message"]


def test_undecodable_or_mismatched_bodies_get_a_400(kf):
    _, c = kf
    json_type = {"Content-Type": "application/json"}
    assert c.post(TJ, content=b"{not json", headers=json_type).json()["reason"] == "BadRequest"
    unsupported = c.post(TJ, content=b"name: x", headers={"Content-Type": "application/yaml"})
    assert unsupported.status_code == 415
    assert unsupported.json()["reason"] == "UnsupportedMediaType"
    resp = c.post(TJ, json={**manifest("k"), "kind": "Pod"})
    assert resp.status_code == 400 and "does not match" in resp.json()["message"]


def test_not_found_and_already_exists_are_kubernetes_statuses(kf):
    _, c = kf
    missing = c.get(f"{TJ}/ghost")
    assert missing.status_code == 404
    assert missing.json()["message"] == 'trainjobs.trainer.kubeflow.org "ghost" not found'
    assert missing.json()["details"] == {"name": "ghost", "group": "trainer.kubeflow.org",
                                         "kind": "trainjobs"}
    assert c.post(TJ, json=manifest("twice", ["true"])).status_code == 201
    dup = c.post(TJ, json=manifest("twice", ["true"]))
    assert dup.status_code == 409 and dup.json()["reason"] == "AlreadyExists"
    assert c.get("/k8s/api/v1/namespaces/default/nothing-here").json()["kind"] == "Status"


def test_pods_and_conditions_follow_the_core_job(kf):
    emu, c = kf
    created = c.post(TJ, json=manifest("ok", ["python", "-c", "print('hello from a pod')"],
                                       nodes=2))
    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert meta["namespace"] == "default" and meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    pods = c.get("/k8s/api/v1/namespaces/default/pods",
                 params={"labelSelector": SDK_SELECTOR.format("ok")}).json()["items"]
    assert [p["status"]["phase"] for p in pods] == ["Pending", "Pending"]
    assert [p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
            for p in pods] == ["0", "1"]
    env = {e["name"]: e["value"] for e in pods[1]["spec"]["containers"][0]["env"]}
    assert env == {"PET_NNODES": "2", "PET_NPROC_PER_NODE": "1", "PET_NODE_RANK": "1",
                   "PET_MASTER_ADDR": "127.0.0.1"}
    assert c.get(f"{TJ}/ok").json()["status"] == {}
    emu.advance(30)  # provisioned: the pods run (no condition while running, see SDK 0.5.0)
    assert c.get(f"{TJ}/ok").json()["status"] == {}
    pods = c.get("/k8s/api/v1/namespaces/default/pods").json()["items"]
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    emu.advance(5)  # the settle point: waits for the processes, then applies their exits
    cond = c.get(f"{TJ}/ok").json()["status"]["conditions"]
    assert cond == [{"type": "Complete", "status": "True", "reason": "AllJobsCompleted",
                     "message": "jobset completed successfully",
                     "lastTransitionTime": "2026-01-01T00:00:35Z"}]
    log = c.get(f"/k8s/api/v1/namespaces/default/pods/{pods[0]['metadata']['name']}/log",
                params={"container": "node"})
    assert log.text == "hello from a pod\n"
    bad = c.get(f"/k8s/api/v1/namespaces/default/pods/{pods[0]['metadata']['name']}/log",
                params={"container": "sidecar"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("container sidecar")


def test_a_failing_pod_fails_the_job_with_a_five_field_condition(kf):
    emu, c = kf
    c.post(TJ, json=manifest("bad", ["python", "-c", "import sys; sys.exit(3)"]))
    emu.advance(35)
    cond = c.get(f"{TJ}/bad").json()["status"]["conditions"]
    assert [(x["type"], x["status"], x["reason"]) for x in cond] == [("Failed", "True",
                                                                      "FailedJobs")]
    assert set(cond[0]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    events = c.get("/k8s/api/v1/namespaces/default/events").json()["items"]
    assert any(e["reason"] == "Failed" and "exit code 3" in e["message"] for e in events)


def test_injected_http_faults_answer_with_a_status(kf):
    emu, c = kf
    emu.inject(FaultPlan.of(HttpFault(route="kubeflow.trainjobs.list", status=503)))
    resp = c.get(TJ)
    assert resp.status_code == 503 and resp.json()["kind"] == "Status"
    assert c.get(TJ).status_code == 200


def test_discovery_lists_what_kubectl_needs(kf):
    _, c = kf
    assert c.get("/k8s/api").json()["versions"] == ["v1"]
    names = {r["name"] for r in c.get("/k8s/apis/trainer.kubeflow.org/v1alpha1").json()[
        "resources"]}
    assert names == {"trainjobs", "trainingruntimes", "clustertrainingruntimes"}
    table = c.get("/k8s/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs",
                  headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json()
    assert table["kind"] == "Table" and [d["name"] for d in table["columnDefinitions"]] == [
        "Name", "State", "Age"]


def test_same_seed_same_names_uids_and_events():
    def run() -> tuple[str, str]:
        emu = kubeflow_emulator(seed=21)
        with emu, emu.client(headers={"Authorization": f"Bearer {emu.api_key}"}) as c:
            c.post(TJ, json=manifest("det", ["true"], nodes=2))
            emu.advance(40)
            pods = json.dumps(c.get("/k8s/api/v1/namespaces/default/pods").json(),
                              sort_keys=True)
            return pods, emu.events.to_jsonl()
    assert run() == run()


def test_a_lost_node_fails_its_pod_and_the_job(kf):
    from drydock.emulator import NodeFailure

    emu, c = kf
    emu.inject(FaultPlan.of(NodeFailure(job="lost", node=1, after_running_s=1)))
    c.post(TJ, json=manifest("lost", ["python", "-c", "import time; time.sleep(30)"], nodes=2))
    emu.advance(32)
    pods = c.get("/k8s/api/v1/namespaces/default/pods").json()["items"]
    assert [(p["status"]["phase"], p["status"]["reason"]) for p in pods] == [
        ("Failed", "Terminated"), ("Failed", "NodeLost")]
    cond = c.get(f"{TJ}/lost").json()["status"]["conditions"]
    assert cond[0]["type"] == "Failed" and "node 1 failed" in cond[0]["message"]
    reasons = [e["reason"] for e in c.get("/k8s/api/v1/namespaces/default/events").json()["items"]]
    assert "NodeNotReady" in reasons and reasons.count("Killing") == 2


def test_active_deadline_fails_the_job_for_good(kf):
    emu, c = kf
    body = manifest("late", ["python", "-c", "import time; time.sleep(30)"])
    body["spec"]["activeDeadlineSeconds"] = 32
    c.post(TJ, json=body)
    emu.advance(40)
    cond = c.get(f"{TJ}/late").json()["status"]["conditions"]
    assert [(x["type"], x["reason"]) for x in cond] == [("Failed", "DeadlineExceeded")]
    assert cond[0]["lastTransitionTime"] == "2026-01-01T00:00:32Z"
    pods = c.get("/k8s/api/v1/namespaces/default/pods").json()["items"]
    assert [p["status"]["phase"] for p in pods] == ["Failed"]


def test_a_deleted_trainjobs_name_is_free_again_and_starts_clean(kf):
    emu, c = kf
    assert c.post(TJ, json=manifest("reuse", ["true"])).status_code == 201
    (tenant, _), = [k for k in emu.control_plane.jobs if k[1] == "reuse"]
    emu.control_plane.record_checkpoint(tenant, "reuse", "ckpt-1", "TRAINING", False)
    assert c.delete(f"{TJ}/reuse").status_code == 200
    emu.advance(emu.control_plane.timings.delete_s)
    assert emu.control_plane.jobs[(tenant, "reuse")].state.value == "DELETED"
    assert c.post(TJ, json=manifest("reuse", ["true"])).status_code == 201
    assert emu.control_plane.list_checkpoints(tenant, "reuse") == []  # none from the old one
