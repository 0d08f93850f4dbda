"""TrainerEngine: the in-process torch trainer behind one RUNNING job.

It works on neutral `Example`s (`drydock.emulator.trainer_port`): `forward`, `forward_backward`
(losses of spec §11, summed over tokens and datums, gradients accumulated until `optim_step`),
`optim_step` (normalise, clip, AdamW), and atomic checkpoints (`save_state`, `save_for_sampler`,
`load_state`, `list_checkpoints`, `restore_latest`; see `checkpoints.py`). The worker process or
thread that serves the job wraps one engine; nothing here knows about HTTP, futures or any
service's wire format.

Model: `TinyDecoder` built from the base model's `LocalModelConfig` with a seeded init.
Token ids (inputs and targets) must lie in `[0, config.vocab_size)`; the default catalog maps
every base model to a small vocabulary (see `drydock.emulator.shapes`), not the real tokenizer's,
so steps stay fast on CPU. Device: CUDA when present, else CPU. Parameters and optimizer state are
float32; on CUDA a 16-bit `weight_precision` (e.g. the shape's "BFLOAT16") runs the forward under
bf16/fp16 autocast. On CPU everything is float32, so a resumed run equals the uninterrupted one
bit for bit. The model has no dropout; the engine's own RNGs (torch + python) are still saved
and restored with each state checkpoint. Gradients accumulated but not yet applied by
`optim_step`, with the accumulation-window counters, are part of a state checkpoint and come
back with the optimizer (`load_state(..., optimizer=True)`, `restore_from`), so a resume at any
point of an accumulation window equals the uninterrupted run; a load without the optimizer
starts with none accumulated.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.emulator.trainer_port import Example

from ._embedding import check_embedding_config, check_embedding_examples, embedding_loss, pool
from ._examples import check_examples, to_array
from ._model import TinyDecoder, merged_state_dict
from .checkpoints import (
    INFERENCE_BASE,
    INFERENCE_LORA,
    STATE_KINDS,
    TRAINING,
    TRAINING_LORA,
    CheckpointStore,
    load_payload,
)
from .errors import CheckpointWriteError, TrainerUserError
from .losses import check_config, compute_loss, required_inputs

__all__ = [
    "TrainerEngine",
    "TrainerUserError",
    "CheckpointWriteError",
    "SavedCheckpoint",
    "DNS_LABEL_RE",
    "CHECKPOINT_NAME_RE",
    "ADAM_DEFAULTS",
    "Accumulation",
]

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# A stored checkpoint name: a DNS label, or `<scope>.<label>` where a caller keeps several
# runs' saves in one store (a serverless session's runs), so equal names never collide.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
CHECKPOINT_NAME_RE = re.compile(rf"^(?:{_LABEL}\.)?{_LABEL}$")
_CROSS_JOB_RE = re.compile(r"^cross_job://([^/]+)/([^/]+)$")
ADAM_DEFAULTS = {
    "learning_rate": 1e-4,
    "beta1": 0.9,
    "beta2": 0.95,
    "eps": 1e-12,
    "weight_decay": 0.0,
    "grad_clip_norm": 0.0,
}
_ADAM_EXTRA = {"emit_grad_norm_metrics"}
_NORMALIZATIONS = ("num_loss_tokens", "num_sequences", "none")
_SAMPLER_TYPES = ("base", "delta", "merged_base")

# One node's accumulated gradients (by parameter name) and window counters.
Accumulation = tuple[dict[str, torch.Tensor], dict[str, int]]


@dataclass
class SavedCheckpoint:
    """A committed checkpoint. `name` is what the wire returns as `path` (a bare DNS label,
    loadable with `load_state`); `path` is its directory on disk (for sampler saves, what a
    promoted model's `init_weights` points at); `kind` is TRAINING | TRAINING_LORA |
    INFERENCE_BASE | INFERENCE_LORA (the control plane's checkpointType without its prefix)."""

    name: str
    path: str
    kind: str


def _autocast_dtype(weight_precision: str | None, device: torch.device) -> torch.dtype | None:
    if weight_precision is None:
        return None
    p = weight_precision.upper().replace("_", "").replace("-", "")
    if p in ("FP32", "FLOAT32", "FULL", "TF32"):
        return None
    if p in ("BF16", "BFLOAT16", "FP8", "FLOAT8", "FP8E4M3", "NVFP4", "FP4"):
        half = torch.bfloat16  # 8/4-bit weights are not emulated: bf16 is the nearest
    elif p in ("FP16", "FLOAT16", "HALF"):
        half = torch.float16
    else:
        raise TrainerUserError(f"unknown weight_precision {weight_precision!r}")
    return half if device.type == "cuda" else None


def _finite(x: float) -> float:
    return x if math.isfinite(x) else (0.0 if math.isnan(x) else math.copysign(3.4e38, x))


class TrainerEngine:
    """One job's model, optimizer and checkpoints. Thread-safe (one call at a time)."""

    def __init__(
        self,
        config: LocalModelConfig,
        *,
        lora_rank: int = 0,
        seed: int = 0,
        device: str | None = None,
        weight_precision: str | None = None,
        forward_only: bool = False,
        checkpoint_dir: str | Path,
        init_weights: str | Path | None = None,
        cross_job_dirs: Callable[[str], Path] | None = None,
        lora_alpha: float = 32.0,
        keep_last: int | None = None,
        gradient_accumulation_steps: int = 1,
    ) -> None:
        if lora_rank < 0:
            raise TrainerUserError(f"lora_rank must be >= 0, got {lora_rank}")
        if (
            isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, int)
            or gradient_accumulation_steps < 1
        ):
            raise TrainerUserError(
                "gradient_accumulation_steps must be an integer >= 1, got "
                f"{gradient_accumulation_steps!r}"
            )
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except RuntimeError as e:
            raise TrainerUserError(f"invalid device {device!r}: {e}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise TrainerUserError("device 'cuda' requested but CUDA is not available")
        self.config = config
        self.lora_rank = lora_rank
        self.lora_alpha = float(lora_alpha)
        self.seed = seed
        self.forward_only = forward_only
        self.autocast_dtype = _autocast_dtype(weight_precision, self.device)
        self._cross_job_dirs = cross_job_dirs
        self._lock = threading.RLock()
        self.model = TinyDecoder(config, lora_rank=lora_rank, lora_alpha=self.lora_alpha, seed=seed)
        if init_weights is not None:
            self._load_init_weights(Path(init_weights))
        self.model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = None if forward_only else self._new_optimizer()
        self.store = CheckpointStore(checkpoint_dir, keep_last=keep_last)
        self._torch_rng = torch.Generator().manual_seed(seed)
        self._py_rng = random.Random(seed)
        self.step = 0
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.micro_batches = 0  # forward_backward calls since the last applied update
        self._acc_tokens = 0
        self._acc_seqs = 0

    # ------------------------------------------------------------------ compute
    def _new_optimizer(self) -> torch.optim.AdamW:
        d = ADAM_DEFAULTS
        return torch.optim.AdamW(
            self.params,
            lr=d["learning_rate"],
            betas=(d["beta1"], d["beta2"]),
            eps=d["eps"],
            weight_decay=d["weight_decay"],
        )

    def _run(
        self, data: list[Example], loss_fn: str, loss_fn_config: dict | None, backward: bool
    ) -> dict:
        if isinstance(loss_fn_config, dict) and "output" in loss_fn_config:
            return self._run_embedding(data, loss_fn, loss_fn_config, backward)
        needed = required_inputs(loss_fn)
        cfg = check_config(loss_fn, loss_fn_config)
        datums = check_examples(data, self.config.vocab_size, self.config.max_seq_len, needed)
        width = max(len(d.tokens) for d in datums)
        batch = torch.zeros(len(datums), width, dtype=torch.int64)
        for b, d in enumerate(datums):
            batch[b, : len(d.tokens)] = d.tokens  # right padding never affects earlier positions
        batch = batch.to(self.device)
        with (
            torch.set_grad_enabled(backward),
            torch.autocast(
                self.device.type,
                dtype=self.autocast_dtype or torch.bfloat16,
                enabled=self.autocast_dtype is not None,
            ),
        ):
            logits = self.model(batch)
        # One gather for the whole batch (targets padded to (B, T, K)): per-datum gathers would
        # each back-propagate a full (B, T, vocab) zero tensor.
        targets = [d.inputs["target_tokens"].reshape(len(d.tokens), -1) for d in datums]
        k_max = max(t.shape[1] for t in targets)
        index = torch.zeros(len(datums), width, k_max, dtype=torch.int64)
        for b, t in enumerate(targets):
            index[b, : t.shape[0], : t.shape[1]] = t
        with torch.set_grad_enabled(backward):
            picked = logits.float().log_softmax(-1).gather(-1, index.to(self.device))
            sums, outputs, n_tokens, n_seqs = [], [], 0, 0
            for b, d in enumerate(datums):
                n, k = targets[b].shape
                lp = picked[b, :n, :k].reshape(d.inputs["target_tokens"].shape)
                loss, k = compute_loss(loss_fn, lp, d.inputs, cfg)
                sums.append(loss.sum())
                n_tokens += k
                n_seqs += k > 0
                outputs.append({"logprobs": to_array(lp), "elementwise_loss": to_array(loss)})
            total = torch.stack(sums).sum()
        value = float(total.detach())
        if not math.isfinite(value):
            raise TrainerUserError(
                f"loss is not finite ({value}); check advantages, logprobs and ratio_log_cap"
            )
        if backward:
            total.backward()
            self._acc_tokens += n_tokens
            self._acc_seqs += n_seqs
        return {"outputs": outputs, "metrics": {"loss:sum": value}}

    def _run_embedding(
        self, data: list[Example], loss_fn: str, loss_fn_config: dict, backward: bool
    ) -> dict:
        """Pooled hidden states, their cosine matrix or the contrastive loss (`_embedding`)."""
        datums = check_embedding_examples(data, self.config.vocab_size, self.config.max_seq_len)
        cfg = check_embedding_config(loss_fn, loss_fn_config, len(datums), backward=backward)
        width = max(len(d.tokens) for d in datums)
        batch = torch.zeros(len(datums), width, dtype=torch.int64)
        for b, d in enumerate(datums):
            batch[b, : len(d.tokens)] = torch.tensor(d.tokens, dtype=torch.int64)
        lengths = torch.tensor([len(d.tokens) for d in datums], device=self.device)
        with (
            torch.set_grad_enabled(backward),
            torch.autocast(
                self.device.type,
                dtype=self.autocast_dtype or torch.bfloat16,
                enabled=self.autocast_dtype is not None,
            ),
        ):
            hidden = self.model.hidden(batch.to(self.device))
        with torch.set_grad_enabled(backward):
            pooled = pool(hidden.float(), lengths, cfg.pooling)
            loss, rows, metrics = embedding_loss(cfg, pooled, datums, backward)
        if loss is not None and not math.isfinite(float(loss.detach())):
            raise TrainerUserError(f"loss is not finite ({float(loss.detach())})")
        if backward and loss is not None:
            loss.backward()
            self._acc_seqs += len(datums)  # gradients come per datum, no loss tokens
        outputs = [{"embedding": to_array(r)} if r is not None else {} for r in rows]
        return {"outputs": outputs, "metrics": metrics}

    def forward(
        self, data: list[Example], loss_fn: str, loss_fn_config: dict | None = None
    ) -> dict:
        """Losses and log-probs without gradients (also on forward-only engines)."""
        with self._lock:
            return self._run(data, loss_fn, loss_fn_config, backward=False)

    def forward_backward(
        self, data: list[Example], loss_fn: str, loss_fn_config: dict | None = None
    ) -> dict:
        """Like `forward`, and add the loss's gradients to the accumulated ones."""
        with self._lock:
            self._refuse_forward_only("forward_backward")
            out = self._run(data, loss_fn, loss_fn_config, backward=True)
            self.micro_batches += 1
            return out

    def _refuse_forward_only(self, what: str) -> None:
        if self.forward_only:
            raise TrainerUserError(f"{what} is not allowed: this trainer is forward-only")

    @property
    def update_due(self) -> bool:
        """Whether the next `optim_step` applies: always with one micro-batch per update (the
        default), else once enough forward_backward calls have accumulated."""
        n = self.gradient_accumulation_steps
        return n == 1 or self.micro_batches >= n

    def optim_step(
        self, adam_params: dict, grad_accumulation_normalization: str | None = None
    ) -> dict:
        """Normalise the accumulated gradients, clip, AdamW step, zero them; `step += 1`.

        With `gradient_accumulation_steps` N > 1 the update applies only once N
        forward_backward calls (micro-batches) have accumulated since the last one; an earlier
        call is validated, keeps the gradients and leaves `step` unchanged."""
        with self._lock:
            self._refuse_forward_only("optim_step")
            hp = self._adam(adam_params)
            norm = grad_accumulation_normalization or "none"
            if norm not in _NORMALIZATIONS:
                raise TrainerUserError(
                    f"grad_accumulation_normalization must be one of "
                    f"{list(_NORMALIZATIONS)}, got {norm!r}"
                )
            if not self.update_due:
                return {
                    "metrics": {
                        "step:max": float(self.step),
                        "micro_batches:max": float(self.micro_batches),
                    }
                }
            divisor = {
                "num_loss_tokens": self._acc_tokens,
                "num_sequences": self._acc_seqs,
                "none": 1,
            }[norm]
            grads = [p for p in self.params if p.grad is not None]
            if divisor > 1:
                for p in grads:
                    assert p.grad is not None  # kept above only when set
                    p.grad.div_(divisor)
            max_norm = hp["grad_clip_norm"] if hp["grad_clip_norm"] > 0 else math.inf
            gnorm = float(torch.nn.utils.clip_grad_norm_(grads, max_norm)) if grads else 0.0
            # Only a forward-only engine has no optimizer, and it was refused above.
            assert self.optimizer is not None
            for g in self.optimizer.param_groups:
                g.update(
                    lr=hp["learning_rate"],
                    betas=(hp["beta1"], hp["beta2"]),
                    eps=hp["eps"],
                    weight_decay=hp["weight_decay"],
                )
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            tokens = self._acc_tokens
            self._acc_tokens = self._acc_seqs = 0
            self.micro_batches = 0
            self.step += 1
            return {
                "metrics": {
                    "grad_norm:mean": _finite(gnorm),
                    "learning_rate:mean": hp["learning_rate"],
                    "num_loss_tokens:sum": float(tokens),
                    "step:max": float(self.step),
                }
            }

    @staticmethod
    def _adam(adam_params: dict) -> dict[str, float]:
        if not isinstance(adam_params, dict):
            raise TrainerUserError("adam_params must be an object")
        unknown = set(adam_params) - set(ADAM_DEFAULTS) - _ADAM_EXTRA
        if unknown:
            raise TrainerUserError(f"adam_params: unknown keys {sorted(unknown)}")
        hp = {}
        for k, default in ADAM_DEFAULTS.items():
            v = adam_params.get(k, default)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or v < 0
            ):
                raise TrainerUserError(f"adam_params.{k} must be a finite number >= 0, got {v!r}")
            hp[k] = float(v)
        if hp["beta1"] >= 1 or hp["beta2"] >= 1:
            raise TrainerUserError("adam_params.beta1 and beta2 must be < 1")
        return hp

    # ------------------------------------------------------------------ checkpoints
    @staticmethod
    def _check_name(name: str) -> None:
        if not isinstance(name, str) or not CHECKPOINT_NAME_RE.match(name):
            raise TrainerUserError(
                f"checkpoint name {name!r} must be a DNS label "
                "(lowercase letters, digits, '-', at most 63 characters)"
            )

    def _meta(self) -> dict:
        return {
            "step": self.step,
            "config": self.config.model_dump(),
            "lora_rank": self.lora_rank,
            "lora_alpha": self.lora_alpha,
        }

    def accumulation(self) -> Accumulation:
        """The gradients accumulated since the last applied update (by trainable parameter
        name; parameters without one are absent) and the window's counters."""
        grads = {
            n: p.grad.detach().clone()
            for n, p in self.model.named_parameters()
            if p.requires_grad and p.grad is not None
        }
        counters = {
            "micro_batches": self.micro_batches,
            "tokens": self._acc_tokens,
            "seqs": self._acc_seqs,
        }
        return grads, counters

    def save_state(
        self,
        name: str,
        data_position: dict | None = None,
        *,
        fail_midway: bool = False,
        accumulation: list[Accumulation] | None = None,
    ) -> SavedCheckpoint:
        """Model + optimizer + RNG states + step + `data_position` + the gradients accumulated
        but not yet applied (and the window's counters), committed atomically. `accumulation`
        replaces this engine's own: a multi-node lead saves every node's, in rank order."""
        with self._lock:
            self._check_name(name)
            if data_position is not None:
                try:
                    json.dumps(data_position)
                except (TypeError, ValueError):
                    raise TrainerUserError("data_position must be JSON-serialisable") from None
            kind = TRAINING_LORA if self.lora_rank else TRAINING
            nodes = accumulation if accumulation is not None else [self.accumulation()]
            payload = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer else {},
                "rng": {"torch": self._torch_rng.get_state(), "python": self._py_rng.getstate()},
                "grads": [g for g, _ in nodes],
            }
            meta = {
                **self._meta(),
                "data_position": data_position,
                "accumulation": [c for _, c in nodes],
            }
            entry = self.store.write(name, kind, payload, meta, fail_midway=fail_midway)
            return SavedCheckpoint(name, str(self.store.path_of(entry)), kind)

    def save_for_sampler(
        self, name: str, checkpoint_type: str = "base", *, fail_midway: bool = False
    ) -> SavedCheckpoint:
        """Weights only, for deployments and promotion. "base"/"delta" store this model's
        weights (LoRA adapters included: kind INFERENCE_LORA); "merged_base" folds them in."""
        with self._lock:
            self._check_name(name)
            if checkpoint_type not in _SAMPLER_TYPES:
                raise TrainerUserError(
                    f"checkpoint_type must be one of {list(_SAMPLER_TYPES)}, "
                    f"got {checkpoint_type!r}"
                )
            merged = checkpoint_type == "merged_base" or not self.lora_rank
            kind = INFERENCE_BASE if merged else INFERENCE_LORA
            weights = merged_state_dict(self.model) if merged else self.model.state_dict()
            meta = {
                **self._meta(),
                "checkpoint_type": checkpoint_type,
                "lora_rank": 0 if merged else self.lora_rank,
            }
            entry = self.store.write(name, kind, {"model": weights}, meta, fail_midway=fail_midway)
            return SavedCheckpoint(name, str(self.store.path_of(entry)), kind)

    def _resolve(self, ref: str) -> tuple[CheckpointStore, str]:
        if not isinstance(ref, str):
            raise TrainerUserError("checkpoint reference must be a string")
        m = _CROSS_JOB_RE.match(ref)
        if m is None:
            if "/" in ref or ":" in ref:
                raise TrainerUserError(
                    f"unsupported checkpoint reference {ref!r}: use a bare "
                    "name or cross_job://<job>/<name>"
                )
            self._check_name(ref)
            return self.store, ref
        job, name = m.groups()
        if not DNS_LABEL_RE.match(job) or not CHECKPOINT_NAME_RE.match(name):
            raise TrainerUserError(f"invalid cross-job reference {ref!r}")
        if self._cross_job_dirs is None:
            raise TrainerUserError("cross-job checkpoints are not available to this trainer")
        try:
            root = self._cross_job_dirs(job)
        except TrainerUserError:
            raise
        except (LookupError, ValueError, PermissionError) as e:
            raise TrainerUserError(f"cannot read checkpoints of job {job!r}: {e}") from None
        if root is None or not Path(root).is_dir():
            raise TrainerUserError(f"job {job!r} has no checkpoints")
        return CheckpointStore(root, writable=False), name

    def _check_compatible(self, meta: dict, what: str) -> None:
        if meta.get("config") != self.config.model_dump():
            raise TrainerUserError(f"{what} was saved by a different base model configuration")

    def load_state(self, ref: str, optimizer: bool, *, node: tuple[int, int] = (0, 1)) -> dict:
        """Load a save_state checkpoint (bare name or cross_job://<job>/<name>): weights, step
        and RNG states, plus the optimizer state and the accumulated gradients when `optimizer`,
        else a fresh optimizer and none accumulated. `node` is (rank, node count) of a
        multi-node trainer: each node takes back its own gradients (with another node count,
        the lead takes their sum). Returns {"name", "step", "data_position"}."""
        with self._lock:
            store, name = self._resolve(ref)
            entry, payload = self._read(store, name, ref)
            self._apply_state(payload, entry.meta, optimizer, node)
            return {
                "name": name,
                "step": self.step,
                "data_position": entry.meta.get("data_position"),
            }

    def restore_from(self, location: str | Path, *, node: tuple[int, int] = (0, 1)) -> dict:
        """Load a save_state checkpoint by its directory (a restart policy's resume point):
        weights, optimizer, accumulated gradients, RNG states and step (`node` as in
        `load_state`). Returns {"step", "data_position"}."""
        with self._lock:
            try:
                payload = load_payload(location, self.device)
                meta = payload["meta"]
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                raise TrainerUserError(f"cannot restore from {location}: {e}") from None
            self._check_compatible(meta, f"checkpoint {location}")
            if meta.get("lora_rank") != self.lora_rank or "optimizer" not in payload:
                raise TrainerUserError(
                    f"checkpoint {location} is not a state checkpoint of a "
                    f"LoRA rank {self.lora_rank} trainer"
                )
            self._apply_state(payload, meta, True, node)
            return {"step": self.step, "data_position": meta.get("data_position")}

    def _apply_state(
        self, payload: dict, meta: dict, optimizer: bool, node: tuple[int, int] = (0, 1)
    ) -> None:
        opt_state = payload["optimizer"] if optimizer else {}
        rng = payload["rng"]
        with torch.no_grad():
            self.model.load_state_dict(payload["model"])
        if self.optimizer is not None:
            self.optimizer = self._new_optimizer()
            if opt_state:
                self.optimizer.load_state_dict(opt_state)
        self.model.zero_grad(set_to_none=True)
        self._acc_tokens = self._acc_seqs = 0
        self.micro_batches = 0
        if optimizer and self.optimizer is not None:
            self._restore_accumulation(payload.get("grads") or [], meta, node)
        self._torch_rng.set_state(rng["torch"].cpu())
        self._py_rng.setstate(rng["python"])
        self.step = int(meta["step"])

    def _restore_accumulation(
        self, saved: list[dict[str, torch.Tensor]], meta: dict, node: tuple[int, int]
    ) -> None:
        # Checkpoints from before accumulation was saved have neither: none accumulated.
        counters = meta.get("accumulation") or []
        if not counters or len(saved) != len(counters):
            return
        self.micro_batches = int(counters[0]["micro_batches"])  # the same on every node
        rank, world = node
        if len(saved) == world:
            grads, mine = dict(saved[rank]), [counters[rank]]
        elif rank == 0:  # another node count: the lead holds the window's sum
            grads, mine = {}, counters
            for g_node in saved:
                for n, g in g_node.items():
                    grads[n] = grads[n] + g if n in grads else g.clone()
        else:
            return
        self._acc_tokens = sum(int(c["tokens"]) for c in mine)
        self._acc_seqs = sum(int(c["seqs"]) for c in mine)
        params = dict(self.model.named_parameters())
        for n, g in grads.items():
            p = params.get(n)
            if p is None or p.shape != g.shape:
                raise TrainerUserError(f"checkpoint gradient {n!r} does not match the model")
            p.grad = g.to(device=p.device, dtype=p.dtype)

    def _read(self, store: CheckpointStore, name: str, ref: str) -> tuple[Any, dict]:
        # Another job's owner may replace or garbage-collect a checkpoint while we read it:
        # the manifest then names a newer directory, so look it up again.
        for attempt in range(3):
            entry = store.get(name, STATE_KINDS)
            if entry is None:
                raise TrainerUserError(
                    f"checkpoint {ref!r} not found (sampler checkpoints "
                    "cannot be loaded with load_state)"
                )
            self._check_compatible(entry.meta, f"checkpoint {ref!r}")
            if entry.meta.get("lora_rank") != self.lora_rank:
                raise TrainerUserError(
                    f"checkpoint {ref!r} has LoRA rank "
                    f"{entry.meta.get('lora_rank')}, this trainer {self.lora_rank}"
                )
            try:
                return entry, store.load(entry, self.device)
            except FileNotFoundError:
                if attempt == 2:
                    raise TrainerUserError(
                        f"checkpoint {ref!r} disappeared while loading"
                    ) from None
        raise AssertionError("unreachable")

    def list_checkpoints(self) -> list[str]:
        """Committed save_state names, sorted."""
        return sorted(e.name for e in self.store.entries(STATE_KINDS))

    def restore_latest(self) -> str | None:
        """Load the newest committed save_state (with optimizer); its name, or None if none."""
        with self._lock:
            entries = self.store.entries(STATE_KINDS)
            if not entries:
                return None
            self.load_state(entries[-1].name, optimizer=True)
            return entries[-1].name

    def load_adapter(self, location: str | Path) -> dict:
        """Load a LoRA (PEFT) model's adapter weights into this LoRA trainer, weights only:
        the base weights, step and RNGs stay; the optimizer starts fresh and nothing stays
        accumulated. `location` is the promoted model's sampler checkpoint."""
        with self._lock:
            if not self.lora_rank:
                raise TrainerUserError(
                    "load_adapter needs a LoRA training session (this one has lora_rank 0)"
                )
            try:
                payload = load_payload(location, self.device)
                meta, sd = payload["meta"], payload["model"]
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                raise TrainerUserError(f"cannot read adapter from {location}: {e}") from None
            self._check_compatible(meta, "the adapter")
            adapters = {k: v for k, v in sd.items() if "lora_" in k}
            if not adapters:
                raise TrainerUserError("the adapter model has no LoRA weights (a full model)")
            if meta.get("lora_rank") != self.lora_rank:
                raise TrainerUserError(
                    f"the adapter has LoRA rank {meta.get('lora_rank')}, this session "
                    f"{self.lora_rank}"
                )
            with torch.no_grad():
                self.model.load_state_dict(adapters, strict=False)
            if self.optimizer is not None:
                self.optimizer = self._new_optimizer()
            self.model.zero_grad(set_to_none=True)
            self._acc_tokens = self._acc_seqs = 0
            self.micro_batches = 0
            return {"step": self.step}

    def _load_init_weights(self, path: Path) -> None:
        """Start from a promoted model's sampler checkpoint: its weights (LoRA folded in) become
        this model's base weights; this trainer's own LoRA adapters start fresh."""
        try:
            payload = load_payload(path)
            meta, sd = payload["meta"], payload["model"]
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise TrainerUserError(f"cannot read init weights from {path}: {e}") from None
        self._check_compatible(meta, f"init weights {path}")
        rank, alpha = meta.get("lora_rank", 0), meta.get("lora_alpha", 32.0)
        base = {k: v for k, v in sd.items() if "lora_" not in k}
        for k in sd:
            if k.endswith(".lora_A"):
                mod = k[: -len(".lora_A")]
                base[mod + ".weight"] = base[mod + ".weight"] + (alpha / rank) * (
                    sd[mod + ".lora_B"] @ sd[k]
                )
        missing, unexpected = self.model.load_state_dict(base, strict=False)
        if unexpected or any("lora_" not in k for k in missing):
            raise TrainerUserError(f"init weights {path} do not match this model")
