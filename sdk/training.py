"""`TrainingClient`: one model on a service-mode trainer, over the training wire.

Spec: fireworks-trainer-gateway.md §5 (futures), §8 (sessions, seq_id), §9 (endpoints), §13.
`connect` sends `create_session` then `create_model` (polled to its future's result); every op
is a submit that answers at once with a `request_id`, then `retrieve_future` polls until the
result. Sequenced ops carry `seq_id` 1, 2, 3, ... per model (a failed submit still consumes its
id, as in the real client); each submit carries an `x-idempotency-key` that is reused across
HTTP retries of that submit (the trainer also dedupes on `(model_id, seq_id)`).

Failure mapping (all drydock.sdk.errors): the op failed on the trainer -> FutureFailedError;
404/410 on retrieve_future (the trainer lost the request: it restarted) -> FutureLostError;
the trainer is unreachable or no longer knows our session/model -> TrainerUnavailableError; a
later op after a failed forward/forward_backward -> SequenceFailedError. Recovery from those is
`drydock.sdk.recovery.ResilientTrainingLoop`'s job, not this class's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._retry import RetryPolicy
from .clock import EmulatorClock, SDKClock, SystemClock
from .errors import (
    APIError,
    FutureFailedError,
    FutureLostError,
    SequenceFailedError,
    TrainerUnavailableError,
    api_error_from_response,
)
from .models import TrainerServiceEndpoint

__all__ = ["TrainingClient", "Datum", "ForwardBackwardOutput", "AdamParams", "SDK_VERSION"]

SDK_VERSION = "0.23.0"  # the Tinker protocol version the Fireworks client announces
_RECOVERABLE_STATUS = {404, 410}


@dataclass
class Datum:
    """One training example in the Tinker convention: position i of `input_tokens` predicts
    `target_tokens[i]`. `Datum.from_tokens(seq)` shifts a sequence by one for you."""

    input_tokens: list[int]
    target_tokens: list[int]
    weights: list[float] | None = None
    extra_inputs: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def from_tokens(cls, tokens: Sequence[int], weights: Sequence[float] | None = None) -> Datum:
        if len(tokens) < 2:
            raise ValueError("a datum needs at least 2 tokens (an input and a target)")
        w = list(weights)[1:] if weights is not None else None
        return cls(list(tokens[:-1]), list(tokens[1:]), w)

    def to_wire(self) -> dict[str, Any]:
        n = len(self.target_tokens)
        if len(self.input_tokens) != n:
            raise ValueError(
                f"input_tokens ({len(self.input_tokens)}) and target_tokens ({n}) "
                "must have the same length"
            )
        weights = self.weights if self.weights is not None else [1.0] * n
        inputs: dict[str, Any] = {
            "target_tokens": {"data": list(self.target_tokens), "dtype": "int64", "shape": [n]},
            "weights": {"data": [float(w) for w in weights], "dtype": "float32", "shape": [n]},
        }
        for key, vals in self.extra_inputs.items():
            inputs[key] = {"data": [float(v) for v in vals], "dtype": "float32", "shape": [n]}
        return {
            "loss_fn_inputs": inputs,
            "model_input": {
                "chunks": [{"tokens": list(self.input_tokens), "type": "encoded_text"}]
            },
        }


@dataclass
class ForwardBackwardOutput:
    """Result of forward / forward_backward: per-datum logprobs and summed metrics."""

    logprobs: list[list[float]]
    metrics: dict[str, float]
    raw: dict[str, Any]

    @property
    def loss(self) -> float:
        return float(self.metrics.get("loss:sum", 0.0))


@dataclass
class AdamParams:
    learning_rate: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-12
    weight_decay: float = 0.0
    grad_clip_norm: float = 0.0

    def to_wire(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def _datums(data: Iterable[Datum | dict[str, Any]]) -> list[dict[str, Any]]:
    return [d.to_wire() if isinstance(d, Datum) else d for d in data]


class TrainingClient:
    """A model on a trainer endpoint. Use `TrainingClient.connect(endpoint, api_key, ...)`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.Client | None = None,
        clock: SDKClock | None = None,
        retry: RetryPolicy | None = None,
        poll_budget_s: float = 600.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._http = http or httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0))
        self._own_http = http is None
        self._clock = clock or SystemClock()
        # Submits are retried briefly: a trainer that stays down is a preemption, handled above.
        self._retry = retry or RetryPolicy(budget_s=30.0, max_backoff_s=8.0)
        self.poll_budget_s = poll_budget_s
        self.session_id: str | None = None
        self.model_id: str | None = None
        self.base_model: str = ""
        self.lora_rank = 0
        self._next_seq = 1
        self._sequence_failed: str | None = None
        self._sampler_suffix = uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------ construction
    @classmethod
    def connect(
        cls,
        endpoint: TrainerServiceEndpoint | str,
        api_key: str,
        *,
        base_model: str,
        lora_rank: int = 0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> TrainingClient:
        """New session + new model on the trainer at `endpoint` (a ready endpoint or its URL)."""
        url = endpoint.base_url if isinstance(endpoint, TrainerServiceEndpoint) else endpoint
        client = cls(url, api_key, **kwargs)
        client.create_session()
        client.create_model(base_model, lora_rank=lora_rank, seed=seed)
        return client

    @classmethod
    def for_emulator(
        cls,
        emulator: Any,
        endpoint: TrainerServiceEndpoint,
        *,
        base_model: str,
        lora_rank: int = 0,
        **kwargs: Any,
    ) -> TrainingClient:
        """In process against a drydock emulator (no sockets; waits advance its clock)."""
        kwargs.setdefault("clock", EmulatorClock(emulator))
        kwargs.setdefault("http", emulator.client())
        return cls.connect(
            endpoint, emulator.api_key, base_model=base_model, lora_rank=lora_rank, **kwargs
        )

    # ------------------------------------------------------------------ HTTP
    def _post(
        self,
        op: str,
        body: dict[str, Any],
        *,
        retry: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = f"{self.base_url}/api/v1/{op}"
        hdrs = {
            "x-api-key": self.api_key,
            "x-idempotency-key": f"drydock-{uuid.uuid4()}",
            **(headers or {}),
        }
        if not retry:
            return self._http.post(url, json=body, headers=hdrs)
        steps = self._retry.run(self._clock.now)
        try:
            kind, arg = next(steps)
            while True:
                if kind == "sleep":
                    assert arg is not None  # a "sleep" step always carries its delay
                    self._clock.sleep(arg)
                    kind, arg = steps.send(None)
                    continue
                try:
                    resp = self._http.post(url, json=body, headers=hdrs)
                except httpx.HTTPError as exc:
                    kind, arg = steps.throw(exc)
                else:
                    kind, arg = steps.send(resp)
        except StopIteration as stop:
            return stop.value
        except httpx.TransportError as exc:
            raise TrainerUnavailableError(f"trainer at {self.base_url} unreachable: {exc}") from exc

    def _check(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        if resp.is_success:
            return resp.json()
        if resp.status_code == 404 or resp.status_code >= 500:
            raise TrainerUnavailableError(
                f"{what} failed (HTTP {resp.status_code}): "
                f"{api_error_from_response(resp, what).server_message}"
            )
        raise api_error_from_response(resp, what)

    def _retrieve(self, request_id: str, what: str) -> dict[str, Any]:
        """Poll a future until it has an outcome (the server long-polls `try_again`)."""
        start, errors, bad_requests = self._clock.now(), 0, 0
        body = {"request_id": request_id, "allow_metadata_only": False}
        while True:
            try:
                resp = self._post("retrieve_future", body, retry=False)
            except httpx.TransportError:  # trainer down or restarting: back off below
                resp = None
            if resp is not None and resp.status_code == 200:
                out = resp.json()
                if out.get("type") == "try_again":
                    errors = 0
                    continue
                if "error" in out:
                    raise FutureFailedError(
                        f"{what} failed: {out['error']}",
                        category=str(out.get("category", "unknown")),
                        request_id=request_id,
                    )
                return out
            if resp is not None and resp.status_code in _RECOVERABLE_STATUS:
                raise FutureLostError(
                    f"{what}: the trainer lost request {request_id} (HTTP "
                    f"{resp.status_code}); reconnect",
                    status_code=resp.status_code,
                    request_id=request_id,
                )
            if resp is not None and resp.status_code == 400:
                bad_requests += 1
                if bad_requests > 3:
                    raise api_error_from_response(resp, f"{what}: retrieve_future")
                continue
            if resp is not None and resp.status_code not in (408, 429) and resp.status_code < 500:
                raise api_error_from_response(resp, f"{what}: retrieve_future")
            # 408/429/5xx/connection errors: back off and poll again, within a budget
            if self._clock.now() - start > self.poll_budget_s:
                raise TrainerUnavailableError(
                    f"{what}: no answer for request {request_id} within {self.poll_budget_s}s"
                )
            if resp is not None and resp.status_code == 408:
                continue
            errors += 1
            self._clock.sleep(0.0 if self._retry.instant else min(2.0 ** (errors - 1), 30.0))

    def _seq_op(self, op: str, body: dict[str, Any], what: str, poison: bool = False) -> dict:
        if self.model_id is None:
            raise TrainerUnavailableError("no model: call connect()/create_model() first")
        if self._sequence_failed:
            raise SequenceFailedError(
                "Training request sequence failed; unload this model and "
                f"reconnect (first failure: {self._sequence_failed})"
            )
        seq, self._next_seq = self._next_seq, self._next_seq + 1  # consumed even if it fails
        try:
            resp = self._post(op, {**body, "model_id": self.model_id, "seq_id": seq})
            handle = self._check(resp, what)
            return self._retrieve(handle["request_id"], what)
        except (TrainerUnavailableError, FutureLostError, APIError) as exc:
            if poison:
                self._sequence_failed = str(exc).splitlines()[0]
            raise

    # ------------------------------------------------------------------ session / model
    def create_session(self) -> str:
        resp = self._post(
            "create_session",
            {"tags": [], "user_metadata": {}, "sdk_version": SDK_VERSION, "type": "create_session"},
        )
        self.session_id = str(self._check(resp, "create_session")["session_id"])
        return self.session_id

    def heartbeat(self) -> bool:
        """One session heartbeat; False when the trainer no longer knows the session."""
        resp = self._post(
            "session_heartbeat",
            {"session_id": self.session_id, "type": "session_heartbeat"},
            retry=False,
        )
        return resp.is_success

    def create_model(self, base_model: str, *, lora_rank: int = 0, seed: int | None = None) -> str:
        if self.session_id is None:
            self.create_session()
        lora: dict[str, Any] = {
            "rank": lora_rank,
            "train_unembed": True,
            "train_mlp": True,
            "train_attn": True,
        }
        if seed is not None:
            lora["seed"] = seed
        resp = self._post(
            "create_model",
            {
                "session_id": self.session_id,
                "model_seq_id": 0,
                "base_model": base_model,
                "lora_config": lora,
                "type": "create_model",
            },
        )
        handle = self._check(resp, "create_model")
        out = self._retrieve(handle["request_id"], "create_model")
        self.model_id = str(out.get("model_id") or handle.get("model_id"))
        self.base_model, self.lora_rank = base_model, lora_rank
        self._next_seq, self._sequence_failed = 1, None
        return self.model_id

    # ------------------------------------------------------------------ training ops
    def forward(
        self,
        data: Iterable[Datum | dict],
        loss_fn: str = "cross_entropy",
        loss_fn_config: dict[str, Any] | None = None,
    ) -> ForwardBackwardOutput:
        """Loss and logprobs without gradients."""
        inp = {
            "data": _datums(data),
            "loss_fn": loss_fn,
            **({"loss_fn_config": loss_fn_config} if loss_fn_config else {}),
        }
        return self._fb_output(self._seq_op("forward", {"forward_input": inp}, "forward", True))

    def forward_backward(
        self,
        data: Iterable[Datum | dict],
        loss_fn: str = "cross_entropy",
        loss_fn_config: dict[str, Any] | None = None,
    ) -> ForwardBackwardOutput:
        """Loss, logprobs, and gradients accumulated until the next optim_step."""
        inp = {
            "data": _datums(data),
            "loss_fn": loss_fn,
            **({"loss_fn_config": loss_fn_config} if loss_fn_config else {}),
        }
        out = self._seq_op(
            "forward_backward", {"forward_backward_input": inp}, "forward_backward", True
        )
        return self._fb_output(out)

    @staticmethod
    def _fb_output(out: dict[str, Any]) -> ForwardBackwardOutput:
        logprobs = [
            list((o.get("logprobs") or {}).get("data") or [])
            for o in out.get("loss_fn_outputs") or []
        ]
        return ForwardBackwardOutput(logprobs, dict(out.get("metrics") or {}), out)

    def optim_step(
        self,
        adam: AdamParams | None = None,
        *,
        learning_rate: float | None = None,
        grad_accumulation_normalization: str | None = None,
    ) -> dict[str, float]:
        params = adam or AdamParams()
        if learning_rate is not None:
            params = AdamParams(**{**params.__dict__, "learning_rate": learning_rate})
        body: dict[str, Any] = {"adam_params": params.to_wire(), "type": "optim_step"}
        if grad_accumulation_normalization:
            body["grad_accumulation_normalization"] = grad_accumulation_normalization
        return dict(self._seq_op("optim_step", body, "optim_step").get("metrics") or {})

    def save_state(self, name: str) -> str:
        """Save weights + optimizer under `name` (a DNS label); returns the path to load."""
        out = self._seq_op(
            "save_weights", {"path": name, "overwrite": False, "type": "save_weights"}, "save_state"
        )
        return str(out["path"])

    def load_state(self, path: str, *, optimizer: bool = True) -> None:
        """Load a `save_state` checkpoint (with its optimizer state unless optimizer=False)."""
        if "://" in path or path.startswith("/"):
            raise ValueError(
                f"invalid checkpoint reference {path!r}: pass the bare name "
                "save_state returned (e.g. 'step-4') or cross_job://<job>/<name>"
            )
        self._seq_op(
            "load_weights",
            {"path": path, "optimizer": optimizer, "type": "load_weights"},
            "load_state",
        )

    def load_state_with_optimizer(self, path: str) -> None:
        self.load_state(path, optimizer=True)

    def save_weights_for_sampler(self, name: str, *, checkpoint_type: str = "base") -> str:
        """Export sampler weights as `<name>-<8 hex>` (promotable); returns that name."""
        out = self._seq_op(
            "save_weights_for_sampler",
            {
                "path": f"{name}-{self._sampler_suffix}",
                "type": "save_weights_for_sampler",
                "checkpoint_type": checkpoint_type,
            },
            "save_weights_for_sampler",
        )
        return str(out["path"])

    def list_checkpoints(self) -> list[str]:
        """The trainer's own list of `save_state` names (the control-plane list is
        `TrainerJobManager.list_checkpoints`)."""
        resp = self._http.get(
            f"{self.base_url}/api/v1/list_checkpoints", headers={"x-api-key": self.api_key}
        )
        return list(self._check(resp, "list_checkpoints").get("checkpoints") or [])

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> TrainingClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
