"""`SamplingEngine`: token-in/token-out generation for a serving deployment's tiny model.

KV-cache-free (the models are tiny): every decoding step runs one forward over the padded batch
of all active sequences and reads each row's last position. Concurrent requests share those
steps (continuous batching: a request that arrives joins the next step; one that finishes leaves).
After generation each sequence is rescored alone, with exactly the computation the trainer's
`forward` uses (one forward over the whole sequence, float32 log-softmax), so the served
`logprob`s equal the trainer's on CPU bit for bit.

Sampling follows the completions API: `temperature` 0 is greedy; `top_k` 0 and `top_p` 1 are off;
`sampling_logprob` is the token's log-probability under the distribution actually sampled
(after temperature, top-k and top-p); `logprob` is the raw model log-probability.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import torch

if TYPE_CHECKING:
    from ._model import TinyDecoder

__all__ = [
    "SampleRequest",
    "SampleResult",
    "TokenRow",
    "SamplingEngine",
    "sampling_logprobs",
    "draw",
    "last_logits",
    "generate_reference",
    "build_engine",
    "load_snapshot",
    "SnapshotLoadError",
]


@dataclass
class SampleRequest:
    prompt: list[int]
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    stop: Callable[[list[int]], bool] | None = None  # e.g. stop strings over rendered text
    top_logprobs: int = 0
    echo: bool = False


@dataclass
class TokenRow:
    token_id: int
    logprob: float
    sampling_logprob: float | None
    top: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class SampleResult:
    prompt: list[int]
    completion: list[int]
    finish_reason: str  # "length" | "stop"
    rows: list[TokenRow]  # one per completion token (+ one per prompt token with echo)
    snapshot: str | None = None  # the identity whose weights served it


def sampling_logprobs(
    logits: torch.Tensor, temperature: float, top_p: float, top_k: int
) -> torch.Tensor:
    """Log-probabilities of the distribution sampled from (rows of `logits`, float32);
    -inf outside the top-k / top-p set. Temperature 0: one-hot on the argmax."""
    logits = logits.float()
    if temperature <= 0:
        out = torch.full_like(logits, float("-inf"))
        return out.scatter_(-1, logits.argmax(-1, keepdim=True), 0.0)
    scaled = logits / temperature
    if top_k and 0 < top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p < 1.0:
        sorted_l, idx = scaled.sort(-1, descending=True)
        probs = sorted_l.softmax(-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop = probs.cumsum(-1) - probs >= top_p
        sorted_l = sorted_l.masked_fill(drop, float("-inf"))
        scaled = torch.full_like(scaled, float("-inf")).scatter(-1, idx, sorted_l)
    return scaled.log_softmax(-1)


def last_logits(model: torch.nn.Module, batch: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Logits at position `last[b]` of each row: the decoder stack over the whole batch, the
    vocabulary projection only where a token is drawn (a TinyDecoder; other models: in full)."""
    rows = torch.arange(batch.shape[0], device=batch.device)
    if not all(hasattr(model, a) for a in ("tok", "pos", "blocks", "ln_f")):
        return model(batch)[rows, last]
    dec = cast("TinyDecoder", model)  # it has a TinyDecoder's parts (checked just above)
    x = dec.tok(batch) + dec.pos(torch.arange(batch.shape[1], device=batch.device))
    for blk in dec.blocks:
        x = blk(x)
    return torch.nn.functional.linear(dec.ln_f(x[rows, last]), dec.tok.weight)


def draw(logprobs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One token per row by inverse CDF: the first index whose cumulative probability exceeds
    the row's uniform `u` (greedy rows, one-hot, always give their argmax)."""
    cdf = logprobs.exp().cumsum(-1)
    u = u.to(cdf.dtype)[:, None] * cdf[:, -1:]  # scale: the CDF may end a hair below 1
    idx = torch.searchsorted(cdf, u, right=True)[:, 0]
    return idx.clamp_(max=logprobs.shape[-1] - 1)


class _Active:
    def __init__(self, req: SampleRequest, fut: Future, gen: torch.Generator) -> None:
        self.req, self.fut, self.gen = req, fut, gen
        self.tokens: list[int] = list(req.prompt)
        self.sampled_lp: list[float] = []
        self.finish: str | None = None


class SamplingEngine:
    """One replica's model behind a batching loop. `submit` is thread-safe and returns a
    `Future[SampleResult]`; `swap(model, identity)` replaces the weights between steps (the
    ASYNC transition: in-flight requests continue on the new weights)."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        max_seq_len: int,
        vocab_size: int,
        device: str | torch.device = "cpu",
        snapshot: str | None = None,
        max_batch: int = 64,
        default_seed: int = 0,
    ) -> None:
        self.model = model.eval()
        self.max_seq_len = max_seq_len
        self.vocab_size = vocab_size
        self.device = torch.device(device)
        self.snapshot = snapshot
        self.max_batch = max_batch
        self._seed_rng = torch.Generator().manual_seed(default_seed)
        self._cv = threading.Condition()
        self._queue: list[_Active] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="drydock-sampler")
        self._thread.start()
        self.steps = 0  # batched decoding forwards run (for tests and benchmarks)

    # ------------------------------------------------------------------ public
    def validate(self, req: SampleRequest) -> str | None:
        """A problem with `req` in the service's words, or None."""
        if not req.prompt:
            return "prompt must be a non-empty list of token ids"
        if any(t < 0 or t >= self.vocab_size for t in req.prompt):
            return f"prompt token ids must be in [0, {self.vocab_size})"
        if req.max_tokens < 0:
            return "max_tokens must be >= 0"
        if len(req.prompt) + req.max_tokens > self.max_seq_len:
            return (
                f"prompt ({len(req.prompt)} tokens) + max_tokens ({req.max_tokens}) exceeds "
                f"the model's context length {self.max_seq_len}"
            )
        if req.temperature < 0 or not 0 < req.top_p <= 1 or req.top_k < 0:
            return "temperature must be >= 0, top_p in (0, 1], top_k >= 0"
        return None

    def submit(self, req: SampleRequest) -> Future:
        fut: Future = Future()
        with self._cv:
            if self._closed:
                fut.set_exception(RuntimeError("the replica is shut down"))
                return fut
            seed = (
                req.seed
                if req.seed is not None
                else int(torch.randint(0, 2**62, (1,), generator=self._seed_rng))
            )
            self._queue.append(_Active(req, fut, torch.Generator().manual_seed(seed)))
            self._cv.notify()
        return fut

    def swap(self, model: torch.nn.Module, snapshot: str | None) -> None:
        with self._cv:
            self.model, self.snapshot = model.eval(), snapshot

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        active: list[_Active] = []
        while True:
            with self._cv:
                while not self._queue and not active and not self._closed:
                    self._cv.wait()
                if self._closed:
                    for a in active + self._queue:
                        if not a.fut.done():
                            a.fut.set_exception(RuntimeError("the replica is shut down"))
                    return
                room = self.max_batch - len(active)
                active += self._queue[:room]
                del self._queue[:room]
                model, snapshot = self.model, self.snapshot
            try:
                self._step(model, active)
                for a in [a for a in active if a.finish]:
                    active.remove(a)
                    a.fut.set_result(self._finish(model, a, snapshot))
            except Exception as exc:  # a bug must not hang every waiting request
                for a in active:
                    if not a.fut.done():
                        a.fut.set_exception(exc)
                active = []

    @torch.no_grad()
    def _step(self, model: torch.nn.Module, active: list[_Active]) -> None:
        todo = []
        for a in active:
            if len(a.tokens) - len(a.req.prompt) >= a.req.max_tokens:
                a.finish = "length"
            else:
                todo.append(a)
        if not todo:
            return
        width = max(len(a.tokens) for a in todo)
        batch = torch.zeros(len(todo), width, dtype=torch.int64)
        for b, a in enumerate(todo):
            batch[b, : len(a.tokens)] = torch.tensor(a.tokens)
        last = torch.tensor([len(a.tokens) - 1 for a in todo], device=self.device)
        rows = last_logits(model, batch.to(self.device), last).float().cpu()
        self.steps += 1
        # Rows that sample alike are processed together; each request draws its own uniform
        # from its own generator, so its tokens depend on its seed only, not on the batch.
        groups: dict[tuple[float, float, int], list[int]] = {}
        for b, a in enumerate(todo):
            groups.setdefault((a.req.temperature, a.req.top_p, a.req.top_k), []).append(b)
        for (temp, top_p, top_k), idx in groups.items():
            lp = sampling_logprobs(rows[idx], temp, top_p, top_k)
            u = torch.cat([torch.rand(1, generator=todo[b].gen) for b in idx])
            toks = draw(lp, u)
            picked = lp.gather(-1, toks[:, None])[:, 0].tolist()
            for b, tok, slp in zip(idx, toks.tolist(), picked, strict=False):
                self._append(todo[b], tok, slp)

    @staticmethod
    def _append(a: _Active, tok: int, slp: float) -> None:
        r = a.req
        a.tokens.append(tok)
        a.sampled_lp.append(slp)
        done = len(a.tokens) - len(r.prompt)
        if tok in r.stop_token_ids or (r.stop is not None and r.stop(a.tokens[len(r.prompt) :])):
            a.finish = "stop"
        elif done >= r.max_tokens:
            a.finish = "length"

    @torch.no_grad()
    def _finish(self, model: torch.nn.Module, a: _Active, snapshot: str | None) -> SampleResult:
        r = a.req
        completion = a.tokens[len(r.prompt) :]
        # Rescore alone, as the trainer's forward does: exact logprobs for this snapshot.
        seq = torch.tensor([a.tokens], dtype=torch.int64, device=self.device)
        logp = model(seq).float().log_softmax(-1)[0].cpu()
        rows: list[TokenRow] = []
        start = 0 if r.echo else len(r.prompt)
        for pos in range(start, len(a.tokens)):
            tok = a.tokens[pos]
            if pos == 0:
                lp = 0.0  # the unconditional first token: the row the client drops
                dist = None
            else:
                dist = logp[pos - 1]
                lp = float(dist[tok])
            in_prompt = pos < len(r.prompt)
            top: list[tuple[int, float]] = []
            if r.top_logprobs and dist is not None:
                v, i = dist.topk(min(r.top_logprobs, dist.shape[-1]))
                top = [(int(t), float(x)) for t, x in zip(i, v, strict=False)]
            elif r.top_logprobs:
                top = [(tok, 0.0)]
            sampled = None if in_prompt else a.sampled_lp[pos - len(r.prompt)]
            rows.append(TokenRow(tok, lp, sampled, top))
        return SampleResult(list(r.prompt), completion, a.finish or "length", rows, snapshot)


@torch.no_grad()
def generate_reference(
    model: torch.nn.Module,
    prompt: list[int],
    max_tokens: int,
    temperature: float = 1.0,
    seed: int = 0,
    top_p: float = 1.0,
    top_k: int = 0,
    device: str | torch.device = "cpu",
) -> list[int]:
    """The bare torch generate loop (one sequence, no batching, no rescoring), drawing exactly
    as the engine does: the benchmark's yardstick and a cross-check of the engine (same seed,
    same tokens)."""
    gen = torch.Generator().manual_seed(seed)
    tokens = list(prompt)
    for _ in range(max_tokens):
        seq = torch.tensor([tokens], device=device)
        row = last_logits(model, seq, torch.tensor([len(tokens) - 1], device=device)).float().cpu()
        lp = sampling_logprobs(row, temperature, top_p, top_k)
        tokens.append(int(draw(lp, torch.rand(1, generator=gen))[0]))
    return tokens[len(prompt) :]


# ---------------------------------------------------------------------- serving backend
class SnapshotLoadError(ValueError):
    """A sampler snapshot cannot be served by this model (unreadable, another base model)."""


def build_engine(
    config: dict,
    *,
    device: str | None = None,
    seed: int = 0,
    init_location: str | None = None,
    max_batch: int = 64,
) -> SamplingEngine:
    """A replica's engine on its base weights: the seeded init every trainer starts from (or a
    promoted model's sampler snapshot, with any LoRA folded in)."""
    from drydock.emulator.shapes import LocalModelConfig

    from ._model import TinyDecoder, merged_state_dict

    cfg = LocalModelConfig(**config)
    model = TinyDecoder(cfg, seed=0)
    if init_location is not None:
        src = _snapshot_model(config, init_location)
        with torch.no_grad():
            model.load_state_dict(merged_state_dict(src))
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return SamplingEngine(
        model.to(dev),
        max_seq_len=cfg.max_seq_len,
        vocab_size=cfg.vocab_size,
        device=dev,
        max_batch=max_batch,
        default_seed=seed,
    )


def _snapshot_model(config: dict, location: str) -> TinyDecoder:
    from drydock.emulator.shapes import LocalModelConfig

    from ._model import TinyDecoder
    from .checkpoints import load_payload

    try:
        payload = load_payload(location)
    except (OSError, RuntimeError, ValueError) as exc:
        raise SnapshotLoadError(f"cannot read the snapshot: {exc}") from None
    meta = payload["meta"]
    if meta.get("config") != config:
        raise SnapshotLoadError("the snapshot was saved by a different base model")
    model = TinyDecoder(
        LocalModelConfig(**config),
        lora_rank=int(meta.get("lora_rank", 0)),
        lora_alpha=float(meta.get("lora_alpha", 32.0)),
    )
    with torch.no_grad():
        model.load_state_dict(payload["model"])
    return model


def load_snapshot(engine: SamplingEngine, config: dict, location: str, identity: str) -> None:
    """Serve the sampler snapshot at `location` (as written by save_weights_for_sampler) as
    `identity`, swapped in between decoding steps. Raises SnapshotLoadError."""
    engine.swap(_snapshot_model(config, location).to(engine.device), identity)
