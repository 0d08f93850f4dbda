"""An SFT job through the real sagemaker 3.27.0 SDK (`train(wait=True)`) against drydock, vs the
same training run on the trainer directly, in one run; and where the rest of the time goes.

    .venv-sagemaker/bin/python benchmarks/bench_sagemaker.py [--steps 8] [--records 16]

Arms (same hub model stand-in, data, hyperparameters, seed, checkpoints every 4 steps):
  direct  drydock's TrainerEngine driven by the dialect's SFT step code, no SDK, no HTTP
  sdk     SFTTrainer(...).train(wait=True, poll=5) under virtual time, through the AWS endpoint
The sdk arm's wall time is split by timing, in the same process: the training steps (what the
direct arm does), metric logging into the local MLflow store, the endpoint's request handling
per backend (SageMaker dialect / moto / MLflow / Lambda), and the rest (the SDK itself:
botocore, recipe resolution, status printing). The SDK's polling sleeps are virtual: they cost
only the Describe calls they trigger.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory

MODEL = "huggingface-llm-qwen3-0-6b"


def rows(n: int) -> list[dict]:
    return [{"prompt": f"Q{i}: {i}+{i}=", "completion": f" {2 * i}"} for i in range(n)]


def direct_arm(steps: int, n: int) -> float:
    """The same SFT run straight on the engine: steps + the same checkpoints."""
    from drydock.emulator.dialects.sagemaker._training import make_step
    from drydock.emulator.dialects.sagemaker.dialect import SageMakerDialect
    from drydock.trainer.engine import TrainerEngine

    entry = SageMakerDialect().catalog_entries().models[0]
    hp = {"learning_rate": 2e-4, "global_batch_size": 4, "max_length": 64, "lora_rank": 8}
    with TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        engine = TrainerEngine(entry.local, lora_rank=8, seed=0, device="cpu",
                               checkpoint_dir=Path(tmp) / "ckpt")
        stepper = make_step("SFT", engine, rows(n), hp, None, seed=0)
        for s in range(steps):
            stepper.run(s)
            if (s + 1) % 4 == 0 or s + 1 == steps:
                engine.save_state(f"step-{s + 1}")
        return time.perf_counter() - t0


class _Timer:
    def __init__(self) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self.n: dict[str, int] = defaultdict(int)

    def wrap(self, obj, name: str, label: str) -> None:
        fn = getattr(obj, name)

        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.s[label] += time.perf_counter() - t0
                self.n[label] += 1
        setattr(obj, name, timed)


def sdk_arm(steps: int, n: int) -> dict:
    import io
    from contextlib import redirect_stdout

    from drydock.emulator.dialects.sagemaker import DEFAULT_ROLE, AwsStack
    from drydock.emulator.dialects.sagemaker._runtime import SageMakerRuntime
    from drydock.scenarios.workloads_sagemaker import preload_c_extensions
    from drydock.testing import virtual_time

    preload_c_extensions()
    timer = _Timer()
    timer.wrap(SageMakerRuntime, "_step", "training steps (engine)")
    t_stack = time.perf_counter()
    stack = AwsStack(seed=0)
    timer.wrap(stack.service, "log_metrics", "metrics -> local MLflow store")
    app = stack.app
    inner_call = type(app).__call__

    async def timed_call(scope, receive, send):
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        label = ("endpoint: SageMaker" if headers.get("x-amz-target", "").startswith("SageMaker.")
                 else "endpoint: Lambda" if path.startswith("/2015-03-31/")
                 else "endpoint: MLflow" if path.startswith(("/api/2.0/mlflow", "/ajax-api/"))
                 else "endpoint: moto (S3/STS/IAM/Logs)")
        t0 = time.perf_counter()
        try:
            return await inner_call(app, scope, receive, send)
        finally:
            timer.s[label] += time.perf_counter() - t0
            timer.n[label] += 1
    stack.server.server.config.app = timed_call
    stack.start()
    startup = time.perf_counter() - t_stack
    try:
        os.environ.update(stack.environment())
        import boto3

        stack.service.store.put("s3://bench-data/sft/train.jsonl",
                                "\n".join(json.dumps(r) for r in rows(n)).encode())
        stack.service.call("CreateModelPackageGroup", {"ModelPackageGroupName": "bench"})
        t0 = time.perf_counter()
        from sagemaker.train import SFTTrainer
        t_import = time.perf_counter() - t0
        boto3.DEFAULT_SESSION = None
        t0 = time.perf_counter()
        trainer = SFTTrainer(model=MODEL, training_dataset="s3://bench-data/sft/train.jsonl",
                             s3_output_path="s3://bench-data/out", model_package_group="bench",
                             mlflow_resource_arn="arn:aws:sagemaker:us-west-2:123456789012:"
                                                 "mlflow-app/app-bench",
                             role=DEFAULT_ROLE, accept_eula=True)
        trainer.hyperparameters.max_steps = steps
        t_construct = time.perf_counter() - t0
        _ = stack.mlflow.client  # the store's one-off set-up, outside the timed train()
        sink = io.StringIO()
        t0 = time.perf_counter()
        with virtual_time(stack.emulator) as vt, redirect_stdout(sink):
            job = trainer.train(wait=True, poll=5)
        t_train = time.perf_counter() - t0
        assert job.training_job_status == "Completed", job.training_job_status
        return {"startup": startup, "import": t_import, "construct": t_construct,
                "train": t_train, "virtual_s": vt.elapsed(), "timer": timer,
                "describes": stack.app.requests.count("SageMaker.DescribeTrainingJob"),
                "requests": len(stack.app.requests)}
    finally:
        stack.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--records", type=int, default=16)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    direct = direct_arm(args.steps, args.records)
    sdk = sdk_arm(args.steps, args.records)
    direct2 = direct_arm(args.steps, args.records)  # after the sdk arm: warm caches both ways
    t = sdk["timer"]
    print(f"SFT {MODEL}, {args.steps} steps, {args.records} records, torch threads 1")
    print(f"direct on the engine:            {min(direct, direct2):7.3f} s  "
          f"(runs: {direct:.3f}, {direct2:.3f})")
    print(f"sdk train(wait=True):            {sdk['train']:7.3f} s  "
          f"({sdk['virtual_s']:.0f} virtual s, {sdk['requests']} requests, "
          f"{sdk['describes']} DescribeTrainingJob)")
    print(f"  ratio sdk/direct:              {sdk['train'] / min(direct, direct2):7.1f}x")
    print("where the sdk arm's time goes (steps run in the SDK's thread, inside its virtual "
          "sleeps; they include the MLflow logging and the checkpoint uploads):")
    steps = t.s["training steps (engine)"]
    mlflow = t.s["metrics -> local MLflow store"]
    print(f"  {'training steps, less MLflow':36s} {steps - mlflow:7.3f} s  ({t.n['training steps (engine)']} steps + S3 uploads)")
    print(f"  {'metrics -> local MLflow store':36s} {mlflow:7.3f} s")
    for label in sorted((k for k in t.s if k.startswith("endpoint")), key=lambda k: -t.s[k]):
        print(f"  {label:36s} {t.s[label]:7.3f} s  ({t.n[label]} requests)")
    served = sum(v for k, v in t.s.items() if k.startswith("endpoint"))
    print(f"  {'the SDK itself (the rest)':36s} {sdk['train'] - served - steps:7.3f} s  "
          "(botocore, recipe resolution, status printing)")
    print(f"one-off: endpoint start {sdk['startup']:.3f} s, import sagemaker.train "
          f"{sdk['import']:.3f} s, SFTTrainer(...) {sdk['construct']:.3f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
