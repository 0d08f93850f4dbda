"""What a SageMaker fine-tuning job computes, step by step, on drydock's trainer engine.

SFT: cross-entropy on completion tokens. DPO: the DPO gradient expressed with the engine's
cross-entropy loss (chosen tokens weighted +c, rejected -c, c = beta * sigmoid(-margin), margin
against the frozen initial model, which a seeded engine rebuilds exactly). RLVR/RLAIF: sample a
group of completions from the policy, score them with a local reward function, and take an
importance-sampling step on group-normalised advantages.

Text becomes token ids byte by byte (the tiny stand-in models have small vocabularies).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import torch

from drydock.emulator.trainer_port import Array, Example
from drydock.trainer.engine import TrainerEngine

__all__ = [
    "RewardFn",
    "DEFAULT_REWARDS",
    "encode",
    "decode",
    "parse_rows",
    "TechniqueStep",
    "make_step",
    "make_datum",
]

RewardFn = Callable[[str, str, dict], float]


def make_datum(
    tokens: list[int],
    *,
    weights: list[float] | None = None,
    advantages: list[float] | None = None,
    logprobs: list[float] | None = None,
) -> Example:
    """Next-token training on `tokens`: input `tokens[:-1]`, targets `tokens[1:]`; the optional
    per-token lists have `len(tokens) - 1` entries."""
    n = len(tokens) - 1
    inputs = {"target_tokens": Array(list(tokens[1:]), (n,), "int64")}
    for key, values in (("weights", weights), ("advantages", advantages), ("logprobs", logprobs)):
        if values is not None:
            inputs[key] = Array([float(v) for v in values], (n,), "float32")
    return Example(list(tokens[:-1]), inputs)


def _weights(d: Example) -> list[float]:
    return list(d.inputs["weights"].data)


def _reweighted(d: Example, w: list[float]) -> Example:
    return Example(d.tokens, {**d.inputs, "weights": Array(w, (len(w),), "float32")})


def encode(text: str, vocab: int) -> list[int]:
    return [1 + (b % (vocab - 1)) for b in text.encode()]


def decode(ids: list[int]) -> str:
    return bytes((i - 1) % 256 for i in ids).decode(errors="replace")


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):  # chat messages
        return "\n".join(
            _text(m.get("content", "")) if isinstance(m, dict) else _text(m) for m in v
        )
    if isinstance(v, dict):
        return _text(v.get("content", v.get("text", "")))
    return "" if v is None else str(v)


def parse_rows(data: bytes) -> list[dict]:
    rows = []
    for line in data.decode(errors="replace").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def _sft_pair(row: dict) -> tuple[str, str]:
    if "messages" in row:
        msgs = row["messages"]
        last = msgs[-1] if msgs else {}
        return _text(msgs[:-1]), _text(last)
    if "prompt" in row:
        return _text(row["prompt"]), _text(row.get("completion", row.get("response", "")))
    return "", _text(row.get("text", row))


def _exact_match(prompt: str, completion: str, row: dict) -> float:
    """Verifiable reward: share of the reference answer's characters the completion starts with."""
    ref = _text(row.get("answer", row.get("reference_answer", row.get("completion", ""))))
    if not ref:
        return 0.0
    same = sum(1 for a, b in zip(completion, ref, strict=False) if a == b)
    return same / len(ref)


def _judge(prompt: str, completion: str, row: dict) -> float:
    """A local stand-in for the Bedrock judge: rewards printable ASCII letters."""
    return sum(c.isalpha() for c in completion) / max(1, len(completion))


DEFAULT_REWARDS: dict[str, RewardFn] = {"exact_match": _exact_match, "judge": _judge}


class TechniqueStep:
    """One optimizer step of a technique over a cyclic walk through the dataset."""

    def __init__(
        self,
        technique: str,
        engine: TrainerEngine,
        rows: list[dict],
        hp: dict[str, float],
        reward: RewardFn | None,
        seed: int,
    ) -> None:
        self.technique = technique
        self.engine = engine
        self.rows = rows
        self.hp = hp
        self.reward = reward
        self.vocab = engine.config.vocab_size
        self.max_len = min(int(hp.get("max_length", 64)), engine.config.max_seq_len)
        self.batch = max(1, int(hp.get("global_batch_size", 4)))
        self.gen = torch.Generator().manual_seed(seed)
        self.ref: TrainerEngine | None = None

    def _clip(self, prompt: list[int], completion: list[int]) -> tuple[list[int], list[float]]:
        toks = ([0] + prompt + completion)[: self.max_len + 1]
        w = [0.0] * len(prompt) + [1.0] * len(completion)
        return toks, w[: len(toks) - 1]

    def _batch_rows(self, step: int) -> list[dict]:
        n = len(self.rows)
        return [self.rows[(step * self.batch + i) % n] for i in range(self.batch)]

    def run(self, step: int) -> dict[str, float]:
        rows = self._batch_rows(step)
        fn = {"SFT": self._sft, "DPO": self._dpo}.get(self.technique, self._rl)
        metrics = fn(rows)
        out = self.engine.optim_step(
            {"learning_rate": float(self.hp.get("learning_rate", 2e-4))}, "num_loss_tokens"
        )
        metrics["grad_norm"] = out["metrics"]["grad_norm:mean"]
        return metrics

    def _sft(self, rows: list[dict]) -> dict[str, float]:
        data = []
        for row in rows:
            p, c = _sft_pair(row)
            toks, w = self._clip(encode(p, self.vocab), encode(c, self.vocab))
            data.append(make_datum(toks, weights=w))
        res = self.engine.forward_backward(data, "cross_entropy")
        n = sum(sum(_weights(d)) for d in data) or 1.0
        return {"train_loss": res["metrics"]["loss:sum"] / n}

    def _logps(self, engine: TrainerEngine, data: list[Example]) -> list[float]:
        """Summed completion log-probs of each datum, in one forward pass."""
        outs = engine.forward(data, "cross_entropy")["outputs"]
        return [
            sum(lp * w for lp, w in zip(o["logprobs"].data, _weights(d), strict=False))
            for o, d in zip(outs, data, strict=False)
        ]

    def _dpo(self, rows: list[dict]) -> dict[str, float]:
        if self.ref is None:  # the frozen reference: a fresh engine with the policy's seed
            self.ref = TrainerEngine(
                self.engine.config,
                lora_rank=self.engine.lora_rank,
                seed=self.engine.seed,
                forward_only=True,
                device="cpu",
                checkpoint_dir=self.engine.store.root / "_ref",
            )
        beta = float(self.hp.get("beta", 0.1))
        data = []  # chosen, rejected, chosen, rejected, ...
        for row in rows:
            p = encode(_text(row.get("prompt", "")), self.vocab)
            for key in ("chosen", "rejected"):
                toks, w = self._clip(p, encode(_text(row.get(key, "")), self.vocab))
                data.append(make_datum(toks, weights=w))
        pol, ref = self._logps(self.engine, data), self._logps(self.ref, data)
        losses = []
        for i in range(0, len(data), 2):
            margin = beta * ((pol[i] - ref[i]) - (pol[i + 1] - ref[i + 1]))
            c = beta / (1.0 + math.exp(margin))  # beta * sigmoid(-margin): DPO's gradient scale
            losses.append(math.log1p(math.exp(-margin)))
            for j, sign in ((i, 1.0), (i + 1, -1.0)):
                data[j] = _reweighted(data[j], [sign * c * x for x in _weights(data[j])])
        self.engine.forward_backward(data, "cross_entropy")
        return {"train_loss": sum(losses) / len(losses)}

    @torch.no_grad()
    def _sample(self, ctx: list[int], n: int, length: int) -> list[tuple[list[int], list[float]]]:
        """`n` completions of `length` tokens sampled together from the policy."""
        seq = torch.tensor([ctx] * n, dtype=torch.int64, device=self.engine.device)
        toks, lps = [], []
        for _ in range(length):
            logp = self.engine.model(seq)[:, -1].float().log_softmax(-1)
            nxt = torch.multinomial(logp.exp().cpu(), 1, generator=self.gen)
            toks.append(nxt[:, 0].tolist())
            lps.append(logp.gather(-1, nxt.to(logp.device))[:, 0].tolist())
            seq = torch.cat([seq, nxt.to(seq.device)], dim=1)
        return [([t[i] for t in toks], [lp[i] for lp in lps]) for i in range(n)]

    def _rl(self, rows: list[dict]) -> dict[str, float]:
        assert self.reward is not None
        g = max(2, int(self.hp.get("num_generations", 4)))
        length = max(1, min(int(self.hp.get("max_response_length", 8)), self.max_len - 1))
        data, rewards = [], []
        for row in rows:
            prompt_text = _text(row.get("prompt", row.get("messages", "")))
            ctx = ([0] + encode(prompt_text, self.vocab))[-(self.max_len - length) :]
            group = self._sample(ctx, g, length)
            r = [float(self.reward(prompt_text, decode(c), row)) for c, _ in group]
            mean = sum(r) / g
            std = math.sqrt(sum((x - mean) ** 2 for x in r) / g) or 1.0
            rewards.extend(r)
            for (c, lps), ri in zip(group, r, strict=False):
                toks = ctx + c
                n = len(toks) - 1
                adv = [0.0] * (len(ctx) - 1) + [(ri - mean) / std] * len(c)
                lp_in = [0.0] * (len(ctx) - 1) + lps
                data.append(make_datum(toks, advantages=adv[:n], logprobs=lp_in[:n]))
        res = self.engine.forward_backward(data, "importance_sampling")
        return {
            "train_loss": res["metrics"]["loss:sum"] / max(1, len(data)),
            "reward_mean": sum(rewards) / len(rewards),
        }


def make_step(
    technique: str,
    engine: TrainerEngine,
    rows: list[dict],
    hp: dict[str, float],
    reward: RewardFn | None,
    seed: int,
) -> TechniqueStep:
    return TechniqueStep(technique, engine, rows, hp, reward, seed)
