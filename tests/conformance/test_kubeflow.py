"""The real kubeflow SDK (0.5.0) `TrainerClient`, Kubernetes backend, against drydock's `/k8s`
dialect over loopback HTTP. Polls run in virtual time; only the functions' compute is real."""

from __future__ import annotations

import pytest

pytest.importorskip("kubeflow.trainer")

from _kubeflow_support import (
    allreduce_ranks,
    fails_on_purpose,
    kubeflow_env,
    preemptible_once,
    waits_for_file,
)
from kubeflow.trainer import CustomTrainer
from kubeflow.trainer.options import Name

from drydock.emulator import FaultPlan, HttpFault, Preempt


def test_runtimes_are_listed_and_resolved_like_a_cluster():
    with kubeflow_env() as env:
        names = {r.name: r for r in env.client.list_runtimes()}
        assert {"torch-distributed", "torch-distributed-restartable",
                "torchtune-llama3.2-1b"} <= set(names)
        rt = env.client.get_runtime("torch-distributed")
        assert rt.name == "torch-distributed"
        assert rt.trainer.framework == "torch"
        assert rt.trainer.num_nodes == 1
        assert "torchrun" in " ".join(rt.trainer.command)
        with pytest.raises(RuntimeError, match="no-such-runtime"):
            env.client.get_runtime("no-such-runtime")


def test_one_node_job_runs_to_complete_with_logs_events_list_and_delete():
    with kubeflow_env() as env, env.warp() as vt:
        name = env.client.train(trainer=CustomTrainer(func=allreduce_ranks, num_nodes=1))
        job = env.client.get_job(name)
        assert job.status == "Created"
        assert [s.status for s in job.steps] == ["Pending"]
        assert list(env.client.get_job_logs(name)) == []  # no running pod yet: empty
        done = env.client.wait_for_job_status(name)
        assert done.status == "Complete"
        assert vt.elapsed() >= 30  # pods wait for their nodes (provisioning) in virtual time
        assert [(s.name, s.status) for s in done.steps] == [("node-0", "Succeeded")]
        logs = list(env.client.get_job_logs(name))
        assert logs[0] == "rank=0 world=1 sum=1"
        assert logs[1] == "env 0 127.0.0.1 1 0 1"
        assert name in [j.name for j in env.client.list_jobs()]
        reasons = env.event_reasons(name)
        for reason in ("JobsCreationSucceeded", "Scheduled", "Started", "Completed",
                       "AllJobsCompleted"):
            assert reason in reasons
        env.client.delete_job(name)
        assert name not in [j.name for j in env.client.list_jobs()]
        with pytest.raises(RuntimeError, match=f"Failed to get TrainJob: default/{name}"):
            env.client.get_job(name)


def test_two_nodes_are_one_torch_distributed_world():
    with kubeflow_env() as env, env.warp():
        name = env.client.train(trainer=CustomTrainer(func=allreduce_ranks, num_nodes=2))
        job = env.client.wait_for_job_status(name)
        assert job.num_nodes == 2
        assert [(s.name, s.status) for s in job.steps] == [("node-0", "Succeeded"),
                                                           ("node-1", "Succeeded")]
        for rank in (0, 1):
            lines = list(env.client.get_job_logs(name, step=f"node-{rank}"))
            assert lines[0] == f"rank={rank} world=2 sum=3"  # gloo all_reduce across nodes
            assert lines[1] == f"env 0 127.0.0.1 2 {rank} 1"


def test_follow_streams_lines_while_the_job_runs(tmp_path):
    gate = str(tmp_path / "gate")
    with kubeflow_env() as env, env.warp():
        name = env.client.train(trainer=CustomTrainer(func=waits_for_file,
                                                      func_args={"gate": gate}))
        assert env.client.wait_for_job_status(name, {"Running"}).status == "Running"
        stream = env.client.get_job_logs(name, follow=True)
        # The pod is blocked until the gate exists: this line can only come from a live stream.
        assert next(stream) == "first line"
        open(gate, "w").close()
        assert list(stream) == ["second line"]  # follow drops a last line without newline
        env.client.wait_for_job_status(name)
        assert list(env.client.get_job_logs(name))[-1] == "no newline at the end"


def test_a_failing_function_fails_the_job_and_wait_raises():
    with kubeflow_env() as env, env.warp():
        name = env.client.train(trainer=CustomTrainer(func=fails_on_purpose, num_nodes=2))
        with pytest.raises(RuntimeError, match=f"TrainJob {name} is Failed"):
            env.client.wait_for_job_status(name)
        job = env.client.wait_for_job_status(name, {"Failed"})
        assert job.status == "Failed"
        assert "Failed" in {s.status for s in job.steps}
        logs = "\n".join(env.client.get_job_logs(name))
        assert "ValueError: the loss went NaN" in logs
        events = env.client.get_job_events(name)
        failed = [e for e in events if e.reason == "FailedJobs"]
        assert failed and "exit code" in failed[0].message


def test_preempted_pod_restarts_under_the_runtime_failure_policy(tmp_path):
    marker = str(tmp_path / "attempt")
    name = "preempt-restart"
    faults = FaultPlan.of(Preempt(job=name, after_running_s=1))
    with kubeflow_env(faults=faults) as env, env.warp():
        rt = env.client.get_runtime("torch-distributed-restartable")
        env.client.train(runtime=rt, trainer=CustomTrainer(
            func=preemptible_once, func_args={"marker": marker}, num_nodes=2,
            ), options=[Name(name)])

        def open_gate_after_restart(job):
            # Stand-in for "the second attempt may finish": the first one was evicted.
            if "Restarting" in [e["reason"] for e in
                                env.dialect.state.events.get((f"{env.emu.account_id}/default",
                                                              "default"), [])]:
                for rank in (0, 1):
                    open(f"{marker}.{rank}", "a").close()
        job = env.client.wait_for_job_status(name, callbacks=[open_gate_after_restart])
        assert job.status == "Complete"
        # The SDK shows only the current pods' events; the evicted pods' are in the namespace.
        reasons = [e.reason for e in env.core_api().list_namespaced_event("default").items]
        assert reasons.count("Preempted") == 2 and "Restarting" in reasons
        assert "FailedJobs" not in reasons
        assert "Restarting" in env.event_reasons(name)
        assert [s.status for s in job.steps] == ["Succeeded", "Succeeded"]
        assert list(env.client.get_job_logs(name)) == ["rank 0: restarted attempt finishes"]
        pods = env.core_api().list_namespaced_pod("default").items
        assert {p.metadata.labels["jobset.sigs.k8s.io/restart-attempt"] for p in pods} == {"1"}


def test_preempted_pod_fails_the_job_without_a_restart_policy(tmp_path):
    name = "preempt-fail"
    faults = FaultPlan.of(Preempt(job=name, after_running_s=1))
    with kubeflow_env(faults=faults) as env, env.warp():
        env.client.train(trainer=CustomTrainer(func=preemptible_once,
                                               func_args={"marker": str(tmp_path / "m")}),
                         options=[Name(name)])
        with pytest.raises(RuntimeError, match=f"TrainJob {name} is Failed"):
            env.client.wait_for_job_status(name)
        events = env.client.get_job_events(name)
        assert any(e.reason == "Preempted" and e.involved_object_kind == "Pod" for e in events)
        assert [s.status for s in env.client.get_job(name).steps] == ["Failed"]


def test_api_errors_reach_the_sdk_as_the_cluster_sends_them():
    from kubernetes.client import ApiException

    faults = FaultPlan.of(HttpFault(route="kubeflow.trainjobs.create", status=429,
                                    retry_after_s=3),
                          HttpFault(route="kubeflow.trainjobs.get", status=500, count=1))
    with kubeflow_env(faults=faults) as env:
        with pytest.raises(RuntimeError, match="Failed to create TrainJob") as err:
            env.client.train(trainer=CustomTrainer(func=allreduce_ranks), options=[Name("a")])
        assert isinstance(err.value.__cause__, ApiException)
        assert err.value.__cause__.status == 429
        assert '"reason":"TooManyRequests"' in err.value.__cause__.body.replace(" ", "")
        env.client.train(trainer=CustomTrainer(func=allreduce_ranks), options=[Name("a")])
        with pytest.raises(RuntimeError, match="Failed to get TrainJob: default/a"):
            env.client.get_job("a")
        assert env.client.get_job("a").name == "a"
        with pytest.raises(RuntimeError, match="Failed to create TrainJob") as err:
            env.client.train(trainer=CustomTrainer(func=allreduce_ranks), options=[Name("a")])
        assert err.value.__cause__.status == 409
        with pytest.raises(RuntimeError, match="Failed to create TrainJob") as err:
            env.client.train(trainer=CustomTrainer(func=allreduce_ranks),
                             options=[Name("Bad_Name")])
        assert err.value.__cause__.status == 422
        with pytest.raises(ApiException) as raw:
            env.core_api().read_namespaced_pod("nope", "default")
        assert raw.value.status == 404 and '"pods \\"nope\\" not found"' in raw.value.body


def test_unsupported_trainers_fail_clearly_instead_of_succeeding():
    from kubeflow.trainer import BuiltinTrainer, CustomTrainerContainer, TorchTuneConfig
    from kubeflow.trainer.options import TrainerCommand

    with kubeflow_env() as env, env.warp():
        tune = env.client.train(runtime=env.client.get_runtime("torchtune-llama3.2-1b"),
                                trainer=BuiltinTrainer(config=TorchTuneConfig()))
        with pytest.raises(RuntimeError, match=f"TrainJob {tune} is Failed"):
            env.client.wait_for_job_status(tune)
        msgs = [e.message for e in env.client.get_job_events(tune) if e.reason == "Unsupported"]
        assert msgs and "BuiltinTrainer (torchtune) jobs are not run by drydock" in msgs[0]
        pkgs = env.client.train(trainer=CustomTrainer(func=allreduce_ranks,
                                                      packages_to_install=["numpy"]))
        with pytest.raises(RuntimeError, match="is Failed"):
            env.client.wait_for_job_status(pkgs)
        assert any("packages_to_install is refused" in e.message
                   for e in env.client.get_job_events(pkgs))
        image = env.client.train(trainer=CustomTrainerContainer(image="ghcr.io/me/train:1"))
        with pytest.raises(RuntimeError, match="is Failed"):
            env.client.wait_for_job_status(image)
        assert any("not container images" in e.message
                   for e in env.client.get_job_events(image))
        # With a command, the container's command runs on this host (the image is ignored).
        cmd = env.client.train(trainer=CustomTrainerContainer(image="ghcr.io/me/train:1"),
                               options=[TrainerCommand(["python", "-c", "print(6 * 7)"])])
        assert env.client.wait_for_job_status(cmd).status == "Complete"
        assert list(env.client.get_job_logs(cmd)) == ["42"]


def test_get_runtime_packages_runs_a_real_job_and_prints_the_environment(capsys):
    with kubeflow_env() as env, env.warp():
        env.client.get_runtime_packages(env.client.get_runtime("torch-distributed"))
    out = capsys.readouterr().out
    assert "Python: " in out
    assert "torch" in out  # `pip list` of the pods' environment
    with kubeflow_env() as env:
        assert env.client.list_jobs() == []  # the SDK deleted its probe job


def test_same_seed_gives_the_same_event_log(tmp_path):
    logs = []
    for _ in range(2):
        faults = FaultPlan.of(Preempt(job="det", after_running_s=1))
        with kubeflow_env(seed=11, faults=faults) as env, env.warp():
            env.client.train(trainer=CustomTrainer(func=allreduce_ranks, num_nodes=2),
                             options=[Name("det")])
            with pytest.raises(RuntimeError, match="is Failed"):
                env.client.wait_for_job_status("det")
            env.client.train(trainer=CustomTrainer(func=allreduce_ranks), options=[Name("ok")])
            env.client.wait_for_job_status("ok")
            logs.append(env.emu.events.to_jsonl())
    assert logs[0] == logs[1]
    assert '"reason":"Preempted"' in logs[0] and '"dst":"COMPLETED"' in logs[0]
