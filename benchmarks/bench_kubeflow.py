"""Kubeflow dialect speed.

(a) One 2-node CustomTrainer job through the real kubeflow SDK (train -> wait_for_job_status,
    polls in virtual time) against the same function started directly with two torchrun
    processes here (static rendezvous, --nnodes 2), in the same run. Reported: wall seconds
    of each and their ratio (target <= 1.3x). The function: a small MLP trained 30 steps with
    gloo all_reduce of the gradients.
(b) SDK calls per second against /k8s: get_job (4 HTTP requests each: TrainJob, namespaced
    runtime 404, cluster runtime, pods) and list_runtimes (2 requests), sequential, keep-alive,
    over loopback to an in-process uvicorn server.

    .venv/bin/python benchmarks/bench_kubeflow.py [--repeats 3] [--calls 300]
"""

from __future__ import annotations

import argparse
import inspect
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from freezegun import api as _fg


def _wall() -> float:
    """Wall time even inside virtual_time (freezegun swaps time.perf_counter, and any global
    bound to it, in every module: look the real one up at call time)."""
    return _fg.real_perf_counter()


def train_mlp():
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(256, 64), torch.randn(256, 1)
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= dist.get_world_size()
        opt.step()
    print(f"rank {dist.get_rank()} final loss {loss.item():.4f}")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def direct_torchrun_s() -> float:
    """The same function and launcher, without drydock: two torchrun agents (one per node)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "train_mlp.py"
        script.write_text(textwrap.dedent(inspect.getsource(train_mlp)) + "\ntrain_mlp()\n")
        torchrun = str(Path(sys.executable).parent / "torchrun")
        port = _free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        t0 = _wall()
        procs = [subprocess.Popen([torchrun, "--nnodes", "2", "--nproc-per-node", "1",
                                   "--node-rank", str(i), "--master-addr", "127.0.0.1",
                                   "--master-port", str(port), str(script)], cwd=tmp, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for i in range(2)]
        outs = [p.communicate()[0] for p in procs]
        wall = _wall() - t0
        if [p.returncode for p in procs] != [0, 0]:
            sys.stderr.write(b"\n".join(outs).decode(errors="replace")[-3000:])
            raise RuntimeError(f"torchrun exit codes {[p.returncode for p in procs]}")
        return wall


def sdk_job_s() -> float:
    from kubeflow.trainer import CustomTrainer

    from drydock.emulator.dialects.kubeflow import (
        kubeflow_emulator,
        kubernetes_datetimes,
        trainer_client,
    )
    from drydock.testing import virtual_time

    with kubeflow_emulator(seed=0) as emu, emu.serve() as server:
        client = trainer_client(server.url, emu.api_key)
        with virtual_time(emu), kubernetes_datetimes():
            t0 = _wall()
            name = client.train(trainer=CustomTrainer(func=train_mlp, num_nodes=2))
            try:
                job = client.wait_for_job_status(name)
            except RuntimeError:
                for step in ("node-0", "node-1"):
                    print(f"--- {step}:", *list(client.get_job_logs(name, step=step))[-20:],
                          sep="\n", file=sys.stderr)
                raise
            wall = _wall() - t0
        assert job.status == "Complete", job.status
        assert list(client.get_job_logs(name, step="node-1"))[0].startswith("rank 1 final loss")
        return wall


def sdk_calls_per_s(calls: int) -> dict[str, float]:
    from kubeflow.trainer import CustomTrainer
    from kubeflow.trainer.options import Name

    from drydock.emulator.dialects.kubeflow import kubeflow_emulator, trainer_client

    out = {}
    with kubeflow_emulator(seed=0) as emu, emu.serve() as server:
        client = trainer_client(server.url, emu.api_key)
        client.train(trainer=CustomTrainer(func=train_mlp, num_nodes=2), options=[Name("bench")])
        for label, fn, requests in (("get_job", lambda: client.get_job("bench"), 4),
                                    ("list_runtimes", client.list_runtimes, 2)):
            fn()  # warm the connection pool
            t0 = _wall()
            for _ in range(calls):
                fn()
            wall = _wall() - t0
            out[label] = calls / wall
            out[f"{label} requests"] = calls * requests / wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()
    direct, sdk = [], []
    for _ in range(args.repeats):  # interleaved, so machine load hits both alike
        direct.append(direct_torchrun_s())
        sdk.append(sdk_job_s())
    d, s = statistics.median(direct), statistics.median(sdk)
    print(f"(a) 2-node CustomTrainer job, median of {args.repeats} (wall s):")
    print(f"    torchrun directly           {d:6.2f}   runs: {', '.join(f'{x:.2f}' for x in direct)}")
    print(f"    kubeflow SDK -> drydock     {s:6.2f}   runs: {', '.join(f'{x:.2f}' for x in sdk)}")
    print(f"    ratio                       {s / d:6.2f}x  (target <= 1.3x)")
    rates = sdk_calls_per_s(args.calls)
    print(f"(b) SDK calls/s against /k8s ({args.calls} sequential calls each):")
    for label in ("get_job", "list_runtimes"):
        print(f"    {label:<14} {rates[label]:7.1f} calls/s  "
              f"({rates[label + ' requests']:.0f} HTTP requests/s)")


if __name__ == "__main__":
    main()
