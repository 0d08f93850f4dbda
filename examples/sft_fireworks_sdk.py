"""The same SFT loop with the real fireworks-ai SDK (1.2.28), surviving a preemption.

    python examples/sft_fireworks_sdk.py                      # in process, virtual time
    python examples/sft_fireworks_sdk.py --url http://127.0.0.1:8765   # against `drydock serve`

`TrainerJobManager.create_and_wait` -> `FiretitanServiceClient` -> `create_training_client`;
train with a checkpoint every `--checkpoint-every` steps. When the preemption (injected at
`--preempt-at-step`) fails a future: `reconnect_and_wait` -> a new service client ->
`create_training_client` -> `load_state_with_optimizer(<newest TRAINING row on the control-plane
checkpoint list>)` -> continue from that step. The SDK's own sleeps (5 s polls) run on the
emulator's clock through drydock.testing's virtual time.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fireworks.training.sdk as fw
from _common import BASE_MODEL, batch, emulator, inject_preemption, parse_args
from fireworks.training.sdk import TrainerJobConfig, TrainerJobManager

from drydock.testing import remote_virtual_time, virtual_time

ADAM = fw.AdamParams(learning_rate=0.02, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


def datum(tokens: list[int]) -> fw.Datum:
    return fw.Datum(model_input=fw.ModelInput.from_ints(tokens[:-1]),
                    loss_fn_inputs={"target_tokens": tokens[1:],
                                    "weights": [1.0] * (len(tokens) - 1)})


def latest_state(mgr: TrainerJobManager, job_id: str) -> tuple[str | None, int]:
    """Newest save_state checkpoint on the control plane (rows are oldest first)."""
    rows = [r for r in mgr.list_checkpoints(job_id)
            if r.get("checkpointType", "").endswith(("TRAINING", "TRAINING_LORA"))]
    if not rows:
        return None, 0
    name = rows[-1]["name"].rsplit("/", 1)[-1]
    return name, int(name.split("-")[1])


def connect(endpoint, api_key: str):
    service = fw.FiretitanServiceClient(base_url=endpoint.base_url, api_key=api_key)
    return service, service.create_training_client(base_model=BASE_MODEL, lora_rank=0)


def run(argv: list[str] | None = None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    with emulator(args) as (emu, url):
        @contextmanager
        def warp():  # the SDK's time.sleep/time.time on the emulator's clock
            with (virtual_time(emu) if emu is not None
                  else remote_virtual_time(url, args.admin_token)):
                yield

        mgr = TrainerJobManager(api_key=args.api_key, base_url=url)
        with warp():
            endpoint = mgr.create_and_wait(TrainerJobConfig(base_model=BASE_MODEL,
                                                            requested_job_id=args.job_id))
        print(f"trainer ready at {endpoint.base_url}")
        inject_preemption(args, emu, url)
        service, tc = connect(endpoint, args.api_key)
        losses: dict[int, float] = {}
        step, recoveries, restored = 0, 0, []
        try:
            while step < args.steps:
                try:
                    out = tc.forward_backward([datum(s) for s in batch(step)],
                                              "cross_entropy").result(timeout=120)
                    tc.optim_step(ADAM).result(timeout=120)
                    losses[step] = out.metrics["loss:sum"]
                    step += 1
                    if step % args.checkpoint_every == 0 or step == args.steps:
                        tc.save_state(f"step-{step}").result(timeout=120)
                except Exception as exc:
                    recoveries += 1
                    if recoveries > 3:
                        raise
                    print(f"preempted at step {step}: {type(exc).__name__}; recovering")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        service.close()
                    with warp():
                        endpoint = mgr.reconnect_and_wait(args.job_id)
                    service, tc = connect(endpoint, args.api_key)
                    name, step = latest_state(mgr, args.job_id)
                    if name:
                        tc.load_state_with_optimizer(name).result(timeout=120)
                        restored.append(name)
        finally:
            service.close()
        for i, loss in sorted(losses.items()):
            print(f"step {i}: loss {loss:.4f}")
        print(f"done: {step} steps, {recoveries} recoveries, restored from {restored}")
        mgr.delete(args.job_id)
        mgr.close()
    return {"losses": losses, "final_step": step, "recoveries": recoveries, "restored": restored}


if __name__ == "__main__":
    run()
