"""An SFT loop with drydock.sdk that survives a preemption.

    python examples/sft_drydock_sdk.py                      # in process, virtual time
    python examples/sft_drydock_sdk.py --url http://127.0.0.1:8765   # against `drydock serve`

Creates a trainer job, trains `--steps` optimizer steps with a checkpoint every
`--checkpoint-every`, and is preempted at `--preempt-at-step`. `ResilientTrainingLoop` applies
drydock.sdk's one recovery policy: reconnect_and_wait -> new session -> create_model ->
load_state(newest checkpoint on the control plane) -> continue from that step.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BASE_MODEL, batch, emulator, inject_preemption, parse_args

from drydock.sdk import (
    Datum,
    EmulatorClock,
    RemoteEmulatorClock,
    ResilientTrainingLoop,
    TrainerJobConfig,
    TrainerJobManager,
    TrainingClient,
    TrainingReport,
)


def sft_step(client: TrainingClient, step: int) -> float:
    out = client.forward_backward([Datum.from_tokens(seq) for seq in batch(step)])
    client.optim_step(learning_rate=0.02)
    return out.loss


def run(argv: list[str] | None = None) -> TrainingReport:
    args = parse_args(__doc__.splitlines()[0], argv)
    with emulator(args) as (emu, url):
        # Waits advance the emulator's clock instead of sleeping: in process, or over
        # /_drydock/clock on a server.
        clock = EmulatorClock(emu) if emu is not None else RemoteEmulatorClock(url, args.admin_token)
        with TrainerJobManager(args.api_key, base_url=url, clock=clock) as mgr:
            ep = mgr.create_and_wait(TrainerJobConfig(base_model=BASE_MODEL,
                                                      requested_job_id=args.job_id),
                                     on_progress=lambda s, t: print(f"  [{t:5.0f}s] {s}"))
            print(f"trainer ready at {ep.base_url}")
            inject_preemption(args, emu, url)
            loop = ResilientTrainingLoop(
                mgr, args.job_id, base_model=BASE_MODEL,
                on_recover=lambda step, exc: print(f"preempted at step {step}: "
                                                   f"{type(exc).__name__}; recovering"))
            report = loop.train(args.steps, sft_step, checkpoint_every=args.checkpoint_every)
            loop.close()
            for step, loss in sorted(report.losses.items()):
                print(f"step {step}: loss {loss:.4f}")
            print(f"done: {report.final_step} steps, {report.recoveries} recoveries, "
                  f"restored from {report.restored_from}, checkpoints {report.checkpoints}")
            mgr.delete(args.job_id)
    return report


if __name__ == "__main__":
    run()
