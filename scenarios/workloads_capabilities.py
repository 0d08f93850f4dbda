"""Workloads for the rest of the Fireworks training surface, through the real fireworks-ai SDK:

* `embedding-contrastive`: an embedding model trained with an InfoNCE loss on fixed
  query/document pairs, computed by the trainer (`mode: contrastive`,
  `forward_backward_contrastive`) or by the client in torch through `forward_backward_custom` on
  what the trainer answers: pooled embeddings (`mode: embedding`) or rows of the batch's cosine
  matrix (`mode: cos_similarity_matrix`). Saves state every `save_every` steps; on a failure it
  reconnects, loads the newest state with its optimizer and goes on. The run fails unless the
  loss fell.
* `grad-accumulation`: `micro_batches` forward_backward calls per optimizer step, a state saved
  after each micro-batch but the last (a checkpoint inside the accumulation window, holding the
  gradients accumulated so far) and after each step. On a failure it resumes from the newest
  of those at the micro-batch after it. At the end it reloads the initial state, replays the
  whole run uninterrupted on the same trainer and compares the two models' log-probs bit for
  bit (`workload.compared`); the run fails unless they are equal.
* `adapter-load`: LoRA training on one job, its sampler snapshot promoted to a PEFT model, then
  `load_adapter` of that model into a fresh LoRA session on a second job, which must then compute
  what the first computed (`workload.adapter_loaded`), and train on.

The data of every step depends only on the step (and micro-batch), so a resumed run sees what an
uninterrupted one would, and the event log replays byte for byte.
"""

from __future__ import annotations

import random
import time
from typing import Any, Literal

from pydantic import Field

from .workloads import WorkloadContext, _Params, fireworks_config, reconnect, register_workload
from .workloads_sft import _newest_training_checkpoint

__all__ = ["AccumulationParams", "AdapterParams", "ContrastiveParams"]

_RESULT_TIMEOUT_S = 120.0  # real seconds: a guard against a wedged future, never hit normally
_FIREWORKS = {"fireworks": "fireworks"}


class _Common(_Params):
    learning_rate: float = Field(2e-2, gt=0)
    data_seed: int = Field(0, ge=0)
    max_reconnects: int = Field(3, ge=0)
    poll_interval_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(900.0, gt=0)


def _tokens(rng: random.Random, n: int, lo: int = 1, hi: int = 60) -> list[int]:
    return [rng.randrange(lo, hi) for _ in range(n)]


def _connect(
    ctx: WorkloadContext, ep: Any, base_model: str, lora_rank: int, n: int
) -> tuple[Any, Any]:
    """A service and training client on `ep`; `n` numbers the run's sessions."""
    from fireworks.training.sdk import FiretitanServiceClient

    svc = FiretitanServiceClient(base_url=ep.base_url, api_key=ctx.api_key)
    tc = svc.create_training_client(base_model=base_model, lora_rank=lora_rank)
    # Sampler snapshot names end in the client's (random) session id: pin it, so logs replay.
    tc.session_id = f"{(ctx.scenario.seed * 7919 + n) % 16**8:08x}"
    return svc, tc


def _close(svc: Any) -> None:
    try:
        svc.close()
    except Exception:  # a dead trainer's session: nothing to tidy
        pass


def _one_job(ctx: WorkloadContext, name: str) -> Any:
    if len(ctx.jobs) != 1:
        raise ValueError(f"{name} trains one job; the scenario declares {len(ctx.jobs)}")
    return ctx.jobs[0]


# ------------------------------------------------------------------ embedding-contrastive
class ContrastiveParams(_Common):
    steps: int = Field(8, ge=2, description="optimizer steps to finish")
    save_every: int = Field(2, ge=1, description="save_state every k steps")
    num_queries: int = Field(4, ge=2, description="query/document pairs per batch")
    num_extra_negatives: int = Field(0, ge=0, description="unpaired hard negatives per batch")
    seq_len: int = Field(6, ge=2)
    temperature: float = Field(0.05, gt=0)
    pooling: Literal["mean", "last"] = "mean"
    mode: Literal["contrastive", "embedding", "cos_similarity_matrix"] = Field(
        "contrastive",
        description="who computes the loss: the trainer (contrastive), or the client on the "
        "pooled embeddings (embedding) or on the cosine-matrix rows (cos_similarity_matrix)",
    )
    step_time_s: float = Field(30.0, ge=0, description="virtual seconds each step takes")


def _contrastive_batch(p: ContrastiveParams) -> list[Any]:
    """[Q_0..Q_B-1, D_0..D_B-1, EN...]: each document shares its query's first half."""
    from fireworks.training.sdk import types

    rng = random.Random(f"contrastive:{p.data_seed}")
    queries = [_tokens(rng, p.seq_len) for _ in range(p.num_queries)]
    docs = [q[: p.seq_len // 2] + _tokens(rng, p.seq_len - p.seq_len // 2) for q in queries]
    extra = [_tokens(rng, p.seq_len) for _ in range(p.num_extra_negatives)]
    return [
        types.Datum(model_input=types.ModelInput.from_ints(s), loss_fn_inputs={})
        for s in queries + docs + extra
    ]


def _client_info_nce(p: ContrastiveParams) -> Any:
    """The trainer's bidirectional InfoNCE (queries against documents and extra negatives,
    documents against queries) as a `forward_backward_custom` loss, on the batch's cosine matrix:
    the rows the trainer answers (`cos_similarity_matrix`) or one built from the pooled
    embeddings (`embedding`)."""

    def loss_fn(data: list[Any], outputs: list[Any]) -> tuple[Any, dict[str, float]]:
        import torch
        import torch.nn.functional as F

        s = torch.stack(outputs)
        if p.mode == "embedding":
            z = F.normalize(s, dim=-1)
            s = z @ z.T
        b, labels = p.num_queries, torch.arange(p.num_queries)
        q2d, d2q = s[:b, b:] / p.temperature, s[b : 2 * b, :b] / p.temperature
        loss = (F.cross_entropy(q2d, labels) + F.cross_entropy(d2q, labels)) / 2
        return loss, {"loss": float(loss.detach())}

    return loss_fn


def _embedding_step(tc: Any, data: list[Any], p: ContrastiveParams) -> float:
    """One forward_backward of the run's mode; its InfoNCE loss (before the update)."""
    if p.mode == "contrastive":
        fut = tc.forward_backward_contrastive(
            data,
            num_queries=p.num_queries,
            temperature=p.temperature,
            pooling=p.pooling,
            num_extra_negatives=p.num_extra_negatives,
        )
    else:
        fut = tc.forward_backward_custom(
            data, _client_info_nce(p), output=p.mode, pooling=p.pooling
        )
    return float(fut.result(timeout=_RESULT_TIMEOUT_S).metrics["loss"])


@register_workload(
    "embedding-contrastive",
    ContrastiveParams,
    needs_trainer=True,
    requires=_FIREWORKS,
    description=(
        "Embedding training with an InfoNCE loss through the real fireworks-ai SDK: server-side "
        "(mode contrastive: forward_backward_contrastive) or client-side in torch "
        "(forward_backward_custom on the pooled embeddings or the cosine-matrix rows); "
        "save_state every save_every steps; on failure "
        "reconnect_and_wait, load the newest state with its optimizer, continue; fails unless "
        "the loss fell."
    ),
)
def embedding_contrastive(ctx: WorkloadContext, p: ContrastiveParams) -> None:
    from fireworks.training.sdk import types
    from fireworks.training.sdk.trainer import TrainerJobManager

    job = _one_job(ctx, "embedding-contrastive")
    mgr = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
    data, adam = _contrastive_batch(p), types.AdamParams(learning_rate=p.learning_rate)
    budget, svc, losses = [p.max_reconnects], None, []
    try:
        ctx.log("create", job.id)
        ep = mgr.create_and_wait(
            fireworks_config(job), poll_interval_s=p.poll_interval_s, timeout_s=p.timeout_s
        )
        ctx.log("ready", job.id)
        svc, tc = _connect(ctx, ep, job.base_model, job.lora_rank, 0)
        step = 0
        while step < p.steps:
            try:
                loss = _embedding_step(tc, data, p)
                tc.optim_step(adam).result(timeout=_RESULT_TIMEOUT_S)
                step += 1
                losses.append(loss)
                ctx.log("step", job.id, step=step, loss=round(losses[-1], 6))
                if step % p.save_every == 0:
                    name = tc.save_state(f"step-{step}").result(timeout=_RESULT_TIMEOUT_S).path
                    ctx.log("saved", job.id, name=name, step=step)
                if p.step_time_s:
                    time.sleep(p.step_time_s)
            except Exception as exc:  # preemption: a lost future, a dead trainer
                ctx.log(
                    "interrupted", job.id, phase="train", step=step + 1, error=ctx.error_line(exc)
                )
                _close(svc)
                ep = reconnect(
                    ctx, mgr, job.id, budget=budget, limit=p.max_reconnects,
                    timeout_s=p.timeout_s, poll_interval_s=p.poll_interval_s,
                )  # fmt: skip
                svc, tc = _connect(
                    ctx, ep, job.base_model, job.lora_rank, p.max_reconnects - budget[0]
                )
                name = _newest_training_checkpoint(mgr.list_checkpoints(job.id))
                if name is not None:
                    tc.load_state_with_optimizer(name).result(timeout=_RESULT_TIMEOUT_S)
                step = int(name.rsplit("-", 1)[1]) if name else 0
                ctx.log("resumed", job.id, name=name, step=step)
        ctx.log("trained", job.id, steps=step)
        if not losses[-1] < losses[0]:
            raise RuntimeError(
                f"the InfoNCE loss ({p.mode}) did not fall: {losses[0]} -> {losses[-1]}"
            )
    finally:
        if svc is not None:
            _close(svc)
        mgr.delete(job.id)
        ctx.log("delete", job.id)
        mgr.close()


# ------------------------------------------------------------------ grad-accumulation
class AccumulationParams(_Common):
    steps: int = Field(4, ge=1, description="optimizer steps to finish")
    micro_batches: int = Field(3, ge=2, description="forward_backward calls per optimizer step")
    save_after: list[int] = Field(
        default_factory=lambda: [1],
        description="save_state after these micro-batches of each window (inside the window)",
    )
    batch_size: int = Field(2, ge=1, description="sequences per micro-batch")
    seq_len: int = Field(8, ge=2)
    micro_time_s: float = Field(10.0, ge=0, description="virtual seconds after each micro-batch")


def _micro_batch(p: AccumulationParams, step: int, k: int) -> list[Any]:
    from fireworks.training.sdk import types

    rng = random.Random(f"accumulation:{p.data_seed}:{step}:{k}")
    out = []
    for _ in range(p.batch_size):
        s = _tokens(rng, p.seq_len)
        out.append(
            types.Datum(
                model_input=types.ModelInput.from_ints(s[:-1]),
                loss_fn_inputs={"target_tokens": s[1:]},  # type: ignore[dict-item]
            )
        )
    return out


def _position(name: str) -> tuple[int, int]:
    """`step-S` -> (S, 0): window S done; `step-S-mb-K` -> (S - 1, K): K micro-batches of
    window S accumulated; `start` -> (0, 0)."""
    parts = name.split("-")
    if name == "start":
        return 0, 0
    if len(parts) == 4:
        return int(parts[1]) - 1, int(parts[3])
    return int(parts[1]), 0


class _Accumulator:
    """Runs accumulation windows from a position (`done` windows finished, `k` micro-batches of
    the next one accumulated), kept up to date as it goes."""

    def __init__(self, ctx: WorkloadContext, p: AccumulationParams, job_id: str) -> None:
        from fireworks.training.sdk import types

        self.ctx, self.p, self.job_id = ctx, p, job_id
        self.adam = types.AdamParams(learning_rate=p.learning_rate)
        self.done, self.k = 0, 0

    def run(self, tc: Any, *, main: bool) -> None:
        """To the end of the run (`main`: the logged run, with saves and virtual step time)."""
        p, ctx = self.p, self.ctx
        while self.done < p.steps:
            step = self.done + 1
            for k in range(self.k + 1, p.micro_batches + 1):
                out = tc.forward_backward(_micro_batch(p, step, k), "cross_entropy")
                last = out.result(timeout=_RESULT_TIMEOUT_S).metrics["loss:sum"]
                self.k = k
                if main and k in p.save_after and k < p.micro_batches:
                    name = f"step-{step}-mb-{k}"
                    tc.save_state(name).result(timeout=_RESULT_TIMEOUT_S)
                    ctx.log("saved", self.job_id, name=name, step=self.done)
                if main and p.micro_time_s:
                    time.sleep(p.micro_time_s)
            tc.optim_step(self.adam).result(timeout=_RESULT_TIMEOUT_S)
            self.done, self.k = step, 0
            if main:
                # the window's last micro-batch: the same data slot every step, a comparable curve
                ctx.log("step", self.job_id, step=step, loss=round(float(last), 6))
                tc.save_state(f"step-{step}").result(timeout=_RESULT_TIMEOUT_S)
                ctx.log("saved", self.job_id, name=f"step-{step}", step=step)

    def probe(self, tc: Any) -> list[float]:
        """The model's log-probs on a fixed batch (JSON floats: float32 values, exactly)."""
        out = tc.forward(_micro_batch(self.p, 0, 0), "cross_entropy")
        res = out.result(timeout=_RESULT_TIMEOUT_S)
        return [v for o in res.loss_fn_outputs for v in o["logprobs"].data]


@register_workload(
    "grad-accumulation",
    AccumulationParams,
    needs_trainer=True,
    requires=_FIREWORKS,
    event_kinds=("workload.compared",),
    description=(
        "Gradient accumulation through the real fireworks-ai SDK: micro_batches forward_backward "
        "calls per optim_step, a state saved inside each window (holding the accumulated "
        "gradients) and after it; on failure resume at the micro-batch after the newest one; "
        "then replay the run uninterrupted from the initial state and require bit-equal weights."
    ),
)
def grad_accumulation(ctx: WorkloadContext, p: AccumulationParams) -> None:
    from fireworks.training.sdk.trainer import TrainerJobManager

    job = _one_job(ctx, "grad-accumulation")
    mgr = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
    acc, budget, svc = _Accumulator(ctx, p, job.id), [p.max_reconnects], None
    try:
        ctx.log("create", job.id)
        ep = mgr.create_and_wait(
            fireworks_config(job), poll_interval_s=p.poll_interval_s, timeout_s=p.timeout_s
        )
        ctx.log("ready", job.id)
        svc, tc = _connect(ctx, ep, job.base_model, job.lora_rank, 0)
        tc.save_state("start").result(timeout=_RESULT_TIMEOUT_S)
        while True:
            try:
                acc.run(tc, main=True)
                break
            except Exception as exc:  # preemption: the trainer is gone between two calls
                ctx.log(
                    "interrupted", job.id, phase=f"micro-batch {acc.k + 1}",
                    step=acc.done + 1, error=ctx.error_line(exc),
                )  # fmt: skip
                _close(svc)
                ep = reconnect(
                    ctx, mgr, job.id, budget=budget, limit=p.max_reconnects,
                    timeout_s=p.timeout_s, poll_interval_s=p.poll_interval_s,
                )  # fmt: skip
                svc, tc = _connect(
                    ctx, ep, job.base_model, job.lora_rank, p.max_reconnects - budget[0]
                )
                name = _newest_training_checkpoint(mgr.list_checkpoints(job.id)) or "start"
                tc.load_state_with_optimizer(name).result(timeout=_RESULT_TIMEOUT_S)
                acc.done, acc.k = _position(name)
                ctx.log("resumed", job.id, name=name, step=acc.done)
        ctx.log("trained", job.id, steps=p.steps)
        resumed = acc.probe(tc)
        # The reference: the same windows from the same initial state, never interrupted.
        tc.load_state_with_optimizer("start").result(timeout=_RESULT_TIMEOUT_S)
        acc.done, acc.k = 0, 0
        acc.run(tc, main=False)
        reference = acc.probe(tc)
        equal = resumed == reference
        ctx.log("compared", job.id, equal=equal, values=len(reference))
        if not equal:
            worst = max(abs(a - b) for a, b in zip(resumed, reference, strict=True))
            raise RuntimeError(f"the resumed run differs from the uninterrupted one by {worst}")
    finally:
        if svc is not None:
            _close(svc)
        mgr.delete(job.id)
        ctx.log("delete", job.id)
        mgr.close()


# ------------------------------------------------------------------ adapter-load
class AdapterParams(_Common):
    steps: int = Field(3, ge=1, description="LoRA steps on the source job before promotion")
    output_model_id: str = Field("trained-adapter", description="the PEFT model to promote to")
    load_after_s: float = Field(
        30.0, ge=0, description="virtual seconds between the new session's first forward and "
        "load_adapter",
    )  # fmt: skip
    seq_len: int = Field(8, ge=2)


def _sft_batch(p: AdapterParams) -> list[Any]:
    from fireworks.training.sdk import types

    rng = random.Random(f"adapter:{p.data_seed}")
    seqs = [_tokens(rng, p.seq_len) for _ in range(2)]
    return [
        types.Datum(
            model_input=types.ModelInput.from_ints(s[:-1]),
            loss_fn_inputs={"target_tokens": s[1:]},  # type: ignore[dict-item]
        )
        for s in seqs
    ]


@register_workload(
    "adapter-load",
    AdapterParams,
    needs_trainer=True,
    requires=_FIREWORKS,
    event_kinds=("workload.promoted", "workload.adapter_loaded"),
    description=(
        "LoRA training on the first job through the real fireworks-ai SDK, its sampler snapshot "
        "promoted to a PEFT model, then load_adapter into a fresh LoRA session on the second "
        "job: it must compute what the first computed, and train on."
    ),
)
def adapter_load(ctx: WorkloadContext, p: AdapterParams) -> None:
    from fireworks.training.sdk import types
    from fireworks.training.sdk.trainer import TrainerJobManager

    if len(ctx.jobs) != 2 or not all(j.lora_rank for j in ctx.jobs):
        raise ValueError("adapter-load needs two LoRA jobs (lora_rank > 0): source, destination")
    src, dst = ctx.jobs
    mgr = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
    data, adam = _sft_batch(p), types.AdamParams(learning_rate=p.learning_rate)
    loss = lambda tc: float(
        tc.forward(data, "cross_entropy").result(timeout=_RESULT_TIMEOUT_S).metrics["loss:sum"]
    )
    created: list[str] = []
    endpoints: dict[str, Any] = {}
    try:
        for job in (src, dst):
            ctx.log("create", job.id)
            created.append(job.id)
            endpoints[job.id] = mgr.create_and_wait(
                fireworks_config(job), poll_interval_s=p.poll_interval_s, timeout_s=p.timeout_s
            )
            ctx.log("ready", job.id)
        svc, tc = _connect(ctx, endpoints[src.id], src.base_model, src.lora_rank, 0)
        try:
            for step in range(1, p.steps + 1):
                out = tc.forward_backward(data, "cross_entropy").result(timeout=_RESULT_TIMEOUT_S)
                tc.optim_step(adam).result(timeout=_RESULT_TIMEOUT_S)
                ctx.log("step", src.id, step=step, loss=round(float(out.metrics["loss:sum"]), 6))
            trained = loss(tc)
            tc.save_weights_for_sampler("adapter-1").result(timeout=_RESULT_TIMEOUT_S)
        finally:
            _close(svc)
        row = [r for r in mgr.list_checkpoints(src.id) if r.get("promotable")][-1]
        model = mgr.promote_checkpoint(
            name=row["name"], output_model_id=p.output_model_id, base_model=src.base_model
        )["name"]
        ctx.log("promoted", src.id, checkpoint=row["name"].rsplit("/", 1)[-1], model=model)
        svc, tc = _connect(ctx, endpoints[dst.id], dst.base_model, dst.lora_rank, 1)
        try:
            fresh = loss(tc)
            if p.load_after_s:
                time.sleep(p.load_after_s)
            out = tc.load_adapter(model).result(timeout=_RESULT_TIMEOUT_S)
            loaded = loss(tc)
            matches = abs(loaded - trained) <= 1e-6 * abs(trained) and loaded != fresh
            ctx.log("adapter_loaded", dst.id, adapter=out.adapter_path, matches=matches)
            if not matches:
                raise RuntimeError(
                    f"load_adapter({model!r}): loss {loaded}, the source computed {trained} "
                    f"(before the load: {fresh})"
                )
            tc.forward_backward(data, "cross_entropy").result(timeout=_RESULT_TIMEOUT_S)
            tc.optim_step(adam).result(timeout=_RESULT_TIMEOUT_S)
            after = loss(tc)
            ctx.log("step", dst.id, step=1, loss=round(after, 6))
            if not after < loaded:
                raise RuntimeError(f"training from the adapter did not lower the loss: {after}")
        finally:
            _close(svc)
    finally:
        for job_id in created:
            mgr.delete(job_id)
            ctx.log("delete", job_id)
        mgr.close()
