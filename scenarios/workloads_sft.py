"""Training workloads: a small SFT loop on the job's torch trainer.

* `sft-fireworks`: the real fireworks-ai SDK (TrainerJobManager + FiretitanServiceClient). Saves
  state every `save_every` steps; on any failure it reconnects (reconnect_and_wait), builds a new
  service and training client, picks the newest TRAINING checkpoint from the control plane's
  list and `load_state_with_optimizer`s it, then continues from that checkpoint's step.
* `sft-broken`: the same loop without any recovery: the first preemption ends the run.
* `sft-drydock`: the same loop through drydock.sdk.

The data is a fixed synthetic corpus (counting sequences, so the loss falls quickly); the batch
of step s depends only on s, so a resumed run sees exactly the data an uninterrupted one would.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

from pydantic import Field

from .workloads import WorkloadContext, _Params, fireworks_config, reconnect, register_workload

__all__ = ["SftParams", "corpus_batch"]

_RESULT_TIMEOUT_S = 120.0  # real seconds: a guard against a wedged future, never hit normally


class SftParams(_Params):
    steps: int = Field(20, ge=1, description="optimizer steps to finish")
    save_every: int = Field(5, ge=1, description="save_state every k steps (and at the end)")
    batch_size: int = Field(4, ge=1)
    seq_len: int = Field(12, ge=2)
    learning_rate: float = Field(2e-2, gt=0)
    data_seed: int = Field(0, ge=0)
    alphabet: int = Field(16, ge=2, le=1000, description="distinct tokens in the corpus")
    step_time_s: float = Field(30.0, ge=0, description="virtual seconds each step takes")
    max_reconnects: int = Field(5, ge=0)
    poll_interval_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(900.0, gt=0)
    delete_at_end: bool = True


def corpus_batch(p: SftParams, step: int) -> list[list[int]]:
    """The token sequences of step `step` (1-based): counting runs (mod `alphabet`) from seeded
    starts, so the next token is always learnable from the current one."""
    rng = random.Random(f"{p.data_seed}:{step}")
    return [
        [(start + i) % p.alphabet + 1 for i in range(p.seq_len)]
        for start in (rng.randrange(p.alphabet) for _ in range(p.batch_size))
    ]


def _step_of(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else 0


def _newest_training_checkpoint(rows: list[dict]) -> str | None:
    """What the fireworks cookbook resumes from: the newest row typed TRAINING(_LORA)."""
    names = [
        r["name"].rsplit("/", 1)[-1]
        for r in rows
        if str(r.get("checkpointType", "")).endswith(("TRAINING", "TRAINING_LORA"))
    ]
    return names[-1] if names else None


# ------------------------------------------------------------------ real fireworks SDK
class _FireworksSession:
    def __init__(
        self, ctx: WorkloadContext, endpoint: Any, base_model: str, lora_rank: int
    ) -> None:
        from fireworks.training.sdk import FiretitanServiceClient

        self.svc = FiretitanServiceClient(base_url=endpoint.base_url, api_key=ctx.api_key)
        self.tc = self.svc.create_training_client(base_model=base_model, lora_rank=lora_rank)

    def step(self, seqs: list[list[int]], lr: float) -> float:
        from fireworks.training.sdk import types

        data = [
            types.Datum(
                model_input=types.ModelInput.from_ints(s[:-1]),
                # Datum.__post_init__ converts plain lists to TensorData (its annotation is narrower).
                loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)},  # type: ignore[dict-item]
            )
            for s in seqs
        ]
        out = self.tc.forward_backward(data, "cross_entropy").result(timeout=_RESULT_TIMEOUT_S)
        self.tc.optim_step(types.AdamParams(learning_rate=lr)).result(timeout=_RESULT_TIMEOUT_S)
        tokens = sum(len(s) - 1 for s in seqs)
        return float(out.metrics["loss:sum"]) / tokens

    def save(self, name: str) -> str:
        return self.tc.save_state(name).result(timeout=_RESULT_TIMEOUT_S).path

    def load(self, name: str) -> None:
        self.tc.load_state_with_optimizer(name).result(timeout=_RESULT_TIMEOUT_S)

    def close(self) -> None:
        try:
            self.svc.close()
        except Exception:  # a dead trainer's session: nothing to tidy
            pass


def _sft(ctx: WorkloadContext, p: SftParams, *, recover: bool, sdk: str) -> None:
    if len(ctx.jobs) != 1:
        raise ValueError(f"the sft workloads train one job; the scenario declares {len(ctx.jobs)}")
    job = ctx.jobs[0]
    if sdk == "fireworks":
        from fireworks.training.sdk.trainer import TrainerJobManager

        mgr: Any = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
        connect = lambda ep: _FireworksSession(ctx, ep, job.base_model, job.lora_rank)
        list_rows = lambda: mgr.list_checkpoints(job.id)
    else:
        from ._sft_drydock import drydock_client

        mgr, connect, list_rows = drydock_client(ctx, job)
    budget = [p.max_reconnects]
    session = None
    try:
        ctx.log("create", job.id)
        ep = mgr.create_and_wait(
            fireworks_config(job) if sdk == "fireworks" else job,
            poll_interval_s=p.poll_interval_s,
            timeout_s=p.timeout_s,
        )
        ctx.log("ready", job.id)
        session = connect(ep)
        step = 0
        while step < p.steps:
            phase = "train"
            try:
                loss = session.step(corpus_batch(p, step + 1), p.learning_rate)
                step += 1
                ctx.log("step", job.id, step=step, loss=round(loss, 6))
                if step % p.save_every == 0 or step == p.steps:
                    phase = "save"
                    name: str | None = session.save(f"step-{step}")
                    ctx.log("saved", job.id, name=name, step=step)
                if p.step_time_s:
                    time.sleep(p.step_time_s)
            except Exception as exc:  # preemption, lost future, dead trainer...
                ctx.log(
                    "interrupted",
                    job.id,
                    phase=phase,
                    step=step + 1 if phase == "train" else step,
                    error=ctx.error_line(exc),
                )
                if not recover:
                    raise
                session.close()
                session = None
                ep = reconnect(
                    ctx,
                    mgr,
                    job.id,
                    budget=budget,
                    limit=p.max_reconnects,
                    timeout_s=p.timeout_s,
                    poll_interval_s=p.poll_interval_s,
                )
                session = connect(ep)
                name = _newest_training_checkpoint(list_rows())
                if name is not None:
                    session.load(name)
                step = _step_of(name) if name else 0
                ctx.log("resumed", job.id, name=name, step=step)
        ctx.log("trained", job.id, steps=step)
    finally:
        if session is not None:
            session.close()
        if p.delete_at_end:
            mgr.delete(job.id)
            ctx.log("delete", job.id)
        mgr.close()


@register_workload(
    "sft-fireworks",
    SftParams,
    needs_trainer=True,
    requires={"fireworks": "fireworks"},
    description=(
        "SFT through the real fireworks-ai SDK (TrainerJobManager + FiretitanServiceClient) on the "
        "torch trainer: save_state every save_every steps; on failure reconnect_and_wait, a new "
        "client, load_state_with_optimizer(newest TRAINING checkpoint), continue."
    ),
)
def sft_fireworks(ctx: WorkloadContext, p: SftParams) -> None:
    _sft(ctx, p, recover=True, sdk="fireworks")


@register_workload(
    "sft-broken",
    SftParams,
    needs_trainer=True,
    requires={"fireworks": "fireworks"},
    description=(
        "The sft-fireworks loop without reconnect logic: the first preemption ends the run."
    ),
)
def sft_broken(ctx: WorkloadContext, p: SftParams) -> None:
    _sft(ctx, p, recover=False, sdk="fireworks")


@register_workload(
    "sft-drydock",
    SftParams,
    needs_trainer=True,
    description=(
        "The sft-fireworks loop through drydock.sdk (TrainerJobManager + TrainingClient)."
    ),
)
def sft_drydock(ctx: WorkloadContext, p: SftParams) -> None:
    _sft(ctx, p, recover=True, sdk="drydock")
