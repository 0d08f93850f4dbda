"""RDMA `weight_sync()` with the real fireworks-ai 1.2.28 client: with
`FireworksDialect.rdma_weight_sync` on, the trainer and the deployment's replicas advertise RDMA,
the SDK negotiates it and publishes through the trainer's /api/v1/weight_sync route (drydock
saves a sampler snapshot and hot-loads it into the deployment the body names)."""

from __future__ import annotations

import pytest

fw = pytest.importorskip("fireworks.training.sdk")

from drydock.emulator import Emulator, Timings, default_dialects  # noqa: E402
from drydock.emulator.dialects.fireworks.dialect import FireworksDialect  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402

BASE = "accounts/fireworks/models/qwen3-0p6b"
SHAPE = "accounts/fireworks/deploymentShapes/qwen3-0p6b-32k-h100-deploy/versions/1"
ADAM = fw.AdamParams(learning_rate=0.05, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


def _emulator() -> Emulator:
    fireworks = FireworksDialect()
    fireworks.rdma_weight_sync = True
    dialects = [fireworks if d.name == "fireworks" else d for d in default_dialects()]
    return Emulator(seed=5, runtime=thread_runtime(torch_threads=1), dialects=dialects,
                    timings=Timings(provision_s=0.0))


def test_rdma_weight_sync_round_trip() -> None:
    emu = _emulator()
    with emu, emu.serve() as server:
        service = fw.FiretitanServiceClient.from_firetitan_config(
            api_key=emu.api_key, base_url=server.url, base_model=BASE,
            trainer_job_id="rdma-policy", deployment_id="rdma-rollout",
            deployment_shape=SHAPE, cleanup_deployment_on_close="delete")
        try:
            tc = service.create_training_client(base_model=BASE, lora_rank=0)
            cp = emu.control_plane
            dep = cp.get_job(emu.account_id, "deployment:rdma-rollout")
            current = lambda: cp.runtimes["fireworks-deployments"].replica(dep).current
            saved = tc.save_weights_for_sampler("base-0").result(timeout=60)
            service.hotload_sampler_snapshot(saved.path)
            assert service.create_deployment_sampler() is not None

            data = [fw.Datum(model_input=fw.ModelInput.from_ints([1, 2, 3, 4]),
                             loss_fn_inputs={"target_tokens": [2, 3, 4, 5]})]
            tc.forward_backward(data, "cross_entropy").result(timeout=60)
            tc.optim_step(ADAM).result(timeout=60)
            synced = tc.weight_sync().result(timeout=60)
            assert tc.supports_rdma_weight_sync is True          # negotiated, not FILE
            assert synced.version.startswith("weight-sync-") and synced.optimizer_version == 1
            assert current() == synced.version
            loads = emu.events.filter("deployment.hot_loaded")
            assert loads[-1].detail["identity"] == synced.version
            row = cp.checkpoints[(emu.account_id, "rdma-policy")][synced.version]
            assert row.kind == "INFERENCE_BASE"                   # the trainer's own snapshot
            # a second publication after another step replaces the first
            tc.forward_backward(data, "cross_entropy").result(timeout=60)
            tc.optim_step(ADAM).result(timeout=60)
            again = tc.weight_sync().result(timeout=60)
            assert again.version != synced.version and again.optimizer_version == 2
            assert current() == again.version
        finally:
            service.close()


def test_weight_sync_route_is_404_unless_enabled() -> None:
    emu = Emulator(seed=5, runtime=thread_runtime(torch_threads=1))
    with emu:
        from drydock.emulator.control_plane import JobSpec

        emu.control_plane.create_job(emu.account_id, "plain", JobSpec(base_model=BASE),
                                     dialect="fireworks")
        emu.advance(60)
        c = emu.client()
        r = c.post(f"/training/v1/rlorTrainerJobs/{emu.account_id}/plain/api/v1/weight_sync",
                   json={"model_id": "m", "seq_id": 1})
        assert r.status_code == 404 and "not enabled" in r.json()["message"]
