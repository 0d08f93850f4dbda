"""Serverless training workloads: the real fireworks-ai SDK on the Fireworks dialect's serverless
trainers (`FiretitanServiceClient` on `/training/v1/serverless`, no trainer job).

* `sft-serverless`: an SFT loop on a serverless session, `save_state` every `save_every` steps.
  On a failure (the session's trainer was preempted: the run's model is gone) it lists the
  session's checkpoints with `FireworksClient.list_training_session_checkpoints`, opens a new
  session, `create_training_client_from_state_with_optimizer(newest TRAINING checkpoint)`,
  deletes the old session (its pool slot) and goes on from that checkpoint's step. The batches
  are `workloads_sft.corpus_batch`, so a resumed run sees what an uninterrupted one would.

Sessions are minted by the service, so scenarios target their faults by time (`at_s`) or `*`.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from .workloads import WorkloadContext, _Params, register_workload
from .workloads_sft import SftParams, corpus_batch

__all__ = ["ServerlessSftParams"]

_RESULT_TIMEOUT_S = 120.0  # real seconds: a guard against a wedged future, never hit normally


class ServerlessSftParams(_Params):
    base_model: str = "accounts/fireworks/models/qwen3-0p6b"
    steps: int = Field(10, ge=1, description="optimizer steps to finish")
    save_every: int = Field(2, ge=1, description="save_state every k steps (and at the end)")
    batch_size: int = Field(4, ge=1)
    seq_len: int = Field(12, ge=2)
    learning_rate: float = Field(2e-2, gt=0)
    data_seed: int = Field(0, ge=0)
    step_time_s: float = Field(30.0, ge=0, description="virtual seconds each step takes")
    max_resumes: int = Field(3, ge=0)


class _Run:
    """One serverless session and the training client of its run."""

    def __init__(self, ctx: WorkloadContext, p: ServerlessSftParams, path: str | None) -> None:
        import fireworks.training.sdk as fw

        self.fw = fw
        self.svc = fw.FiretitanServiceClient(
            base_url=ctx.base_url + "/training/v1/serverless", api_key=ctx.api_key
        )
        self.session = str(self.svc.training_session_id)
        if path is None:
            self.tc = self.svc.create_training_client(base_model=p.base_model)
        else:
            self.tc = self.svc.create_training_client_from_state_with_optimizer(path)

    def step(self, seqs: list[list[int]], lr: float) -> float:
        fw = self.fw
        data = [
            fw.Datum(
                model_input=fw.ModelInput.from_ints(s[:-1]),
                loss_fn_inputs={"target_tokens": s[1:], "weights": [1.0] * (len(s) - 1)},
            )
            for s in seqs
        ]
        out = self.tc.forward_backward(data, "cross_entropy").result(timeout=_RESULT_TIMEOUT_S)
        self.tc.optim_step(fw.AdamParams(learning_rate=lr)).result(timeout=_RESULT_TIMEOUT_S)
        return float(out.metrics["loss:sum"])

    def close(self, delete: bool = True) -> None:
        if delete:
            self.svc.delete_training_session()
        try:
            self.svc.close()
        except Exception:  # a dead trainer's connection: nothing to tidy
            pass


def _rows(ctx: WorkloadContext, run: _Run) -> list[dict[str, Any]]:
    from fireworks.training.sdk.fireworks_client import FireworksClient

    with FireworksClient(api_key=ctx.api_key, base_url=ctx.base_url) as fc:
        name = f"accounts/{ctx.account}/trainingSessions/{run.session}"
        return list(fc.list_training_session_checkpoints(name))


def _newest_state(ctx: WorkloadContext, run: _Run) -> dict[str, Any] | None:
    rows = [r for r in _rows(ctx, run) if not r["promotable"]]
    return max(rows, key=lambda r: r["step"]) if rows else None


def _listed_id(ctx: WorkloadContext, run: _Run, path: str) -> str | None:
    """The checkpoint id the session lists a save under (a run's saves are its own: the id is
    not the save name), found by the path the save returned."""
    row = next((r for r in _rows(ctx, run) if r.get("checkpointPath") == path), None)
    return row["name"].rsplit("/", 1)[1] if row else None


@register_workload(
    "sft-serverless",
    ServerlessSftParams,
    needs_trainer=True,
    requires={"fireworks": "fireworks"},
    description=(
        "SFT on a Fireworks serverless session (real fireworks-ai SDK): save_state every "
        "save_every steps; on failure list the session's trainingSessions checkpoints, open a "
        "new session from the newest with its optimizer, delete the old one, continue."
    ),
)
def sft_serverless(ctx: WorkloadContext, p: ServerlessSftParams) -> None:
    corpus = SftParams(
        batch_size=p.batch_size, seq_len=p.seq_len, data_seed=p.data_seed
    )  # the sft workloads' corpus
    run = _Run(ctx, p, None)
    ctx.log("ready", run.session)
    step, resumes = 0, 0
    try:
        while step < p.steps:
            phase = "train"
            try:
                loss = run.step(corpus_batch(corpus, step + 1), p.learning_rate)
                step += 1
                ctx.log("step", run.session, step=step, loss=round(loss, 6))
                if step % p.save_every == 0 or step == p.steps:
                    phase = "save"
                    path = run.tc.save_state(f"step-{step}").result(timeout=_RESULT_TIMEOUT_S).path
                    ctx.log(
                        "saved",
                        run.session,
                        name=f"step-{step}",
                        step=step,
                        path=path,
                        checkpoint=_listed_id(ctx, run, path),
                    )
                if p.step_time_s:
                    time.sleep(p.step_time_s)
            except Exception as exc:  # the session's trainer was preempted: the run is gone
                ctx.log(
                    "interrupted",
                    run.session,
                    phase=phase,
                    step=step + 1 if phase == "train" else step,
                    error=ctx.error_line(exc, 160),
                )
                resumes += 1
                if resumes > p.max_resumes:
                    raise
                newest = _newest_state(ctx, run)
                old, run = run, _Run(ctx, p, newest["checkpointPath"] if newest else None)
                old.close()
                step = int(newest["step"]) if newest else 0
                ctx.log(  # on the session it resumed from (what no_checkpoint_lost compares)
                    "resumed",
                    old.session,
                    name=newest["checkpointPath"].rsplit("/", 1)[1] if newest else None,
                    checkpoint=newest["name"].rsplit("/", 1)[1] if newest else None,
                    step=step,
                    into=run.session,
                )
        ctx.log("trained", run.session, steps=step)
    finally:
        run.close()
        ctx.log("delete", run.session)
