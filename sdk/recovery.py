"""`ResilientTrainingLoop`: the one recovery policy of drydock.sdk after a preemption.

The Fireworks service does not restore training state by itself (gateway spec §12): when the
trainer's pod dies, its sessions, models and futures are gone and only committed checkpoints
survive. The policy, in this order, and nowhere else:

1. `manager.reconnect_and_wait(job_id)` — wait for a resumable state, `:resume`, wait healthy;
2. a new `TrainingClient` (new session) and `create_model` with the same base model and rank;
3. `load_state(<newest save_state row on the control-plane checkpoint list>, optimizer=True)`;
4. the loop continues at the step that checkpoint recorded. Checkpoints are named
   `step-<n>` (n = optimizer steps done, so also the data position); none -> step 0.

Triggers: FutureLostError, TrainerUnavailableError, SequenceFailedError, JobFailedError and
transport errors, i.e. what a preemption looks like from the client. After `max_recoveries`
the last error is raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import FutureLostError, JobFailedError, SequenceFailedError, TrainerUnavailableError
from .manager import TrainerJobManager
from .models import CheckpointInfo
from .training import TrainingClient

__all__ = [
    "ResilientTrainingLoop",
    "TrainingReport",
    "RECOVERABLE_ERRORS",
    "checkpoint_name",
    "checkpoint_step",
]

logger = logging.getLogger("drydock.sdk")

RECOVERABLE_ERRORS: tuple[type[BaseException], ...] = (
    FutureLostError,
    TrainerUnavailableError,
    SequenceFailedError,
    JobFailedError,
    httpx.TransportError,
)
_STEP_RE = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step}"


def checkpoint_step(name: str) -> int | None:
    m = _STEP_RE.match(name)
    return int(m.group(1)) if m else None


@dataclass
class TrainingReport:
    """What `train` did: per-step losses (of the steps that counted), recoveries, checkpoints."""

    final_step: int = 0
    losses: dict[int, float] = field(default_factory=dict)
    recoveries: int = 0
    restored_from: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)


class ResilientTrainingLoop:
    """Runs a step function over a trainer job and survives preemptions (see module doc).

    `client_factory(endpoint)` makes a connected TrainingClient; by default
    `TrainingClient.connect(endpoint, manager.api_key, base_model=..., lora_rank=...)` with
    the manager's clock, and (for `for_emulator` managers) an in-process HTTP client.
    """

    def __init__(
        self,
        manager: TrainerJobManager,
        job_id: str,
        *,
        base_model: str,
        lora_rank: int = 0,
        max_recoveries: int = 5,
        client_factory: Callable[[Any], TrainingClient] | None = None,
        on_recover: Callable[[int, BaseException], None] | None = None,
    ) -> None:
        self.manager = manager
        self.job_id = job_id
        self.base_model = base_model
        self.lora_rank = lora_rank
        self.max_recoveries = max_recoveries
        self._factory = client_factory or self._default_factory
        self._on_recover = on_recover
        self.client: TrainingClient | None = None
        self.report = TrainingReport()

    def _default_factory(self, endpoint: Any) -> TrainingClient:
        return TrainingClient.connect(
            endpoint,
            self.manager.api_key,
            base_model=self.base_model,
            lora_rank=self.lora_rank,
            clock=self.manager._clock,
            http=self.manager._http,
        )

    # ------------------------------------------------------------------ the policy
    def latest_checkpoint(self) -> CheckpointInfo | None:
        """The newest `save_state` row (oldest-first list, so the last training row)."""
        rows = [
            r
            for r in self.manager.list_checkpoints(self.job_id)
            if r.is_training_state and checkpoint_step(r.checkpoint_id) is not None
        ]
        return rows[-1] if rows else None

    def _attach(self, reconnect: bool) -> int:
        if self.client is not None:
            self.client.close()
            self.client = None
        endpoint = (
            self.manager.reconnect_and_wait(self.job_id)
            if reconnect
            else self.manager.wait_for_existing(self.job_id)
        )
        self.client = self._factory(endpoint)
        latest = self.latest_checkpoint()
        if latest is None:
            return 0
        self.client.load_state(latest.checkpoint_id, optimizer=True)
        self.report.restored_from.append(latest.checkpoint_id)
        return checkpoint_step(latest.checkpoint_id) or 0

    def start(self) -> int:
        """Connect (waiting for the job) and restore the newest checkpoint; returns its step."""
        return self._attach(reconnect=False)

    def recover(self) -> int:
        """Steps 1-4 of the policy; returns the step to continue from."""
        self.report.recoveries += 1
        return self._attach(reconnect=True)

    # ------------------------------------------------------------------ the loop
    def train(
        self,
        num_steps: int,
        step_fn: Callable[[TrainingClient, int], Any],
        *,
        checkpoint_every: int = 1,
    ) -> TrainingReport:
        """Run `step_fn(client, step)` for step = start .. num_steps-1 (one optimizer step each;
        it may return the loss), saving `step-<n>` every `checkpoint_every` steps and at the
        end. A preemption rewinds to the newest checkpoint and goes on from there."""
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        step = self.start() if self.client is None else self.report.final_step
        failures = 0
        while step < num_steps:
            try:
                assert self.client is not None
                loss = step_fn(self.client, step)
                step += 1
                if loss is not None:
                    self.report.losses[step - 1] = float(loss)
                if step % checkpoint_every == 0 or step == num_steps:
                    self.report.checkpoints.append(self.client.save_state(checkpoint_name(step)))
            except RECOVERABLE_ERRORS as exc:
                failures += 1
                if failures > self.max_recoveries:
                    raise
                logger.warning("training step %d interrupted (%s); recovering", step, exc)
                if self._on_recover is not None:
                    self._on_recover(step, exc)
                step = self._recover_until_attached()
        self.report.final_step = step
        return self.report

    def _recover_until_attached(self) -> int:
        """`recover`, retried while the job is still going down (each try counts)."""
        while True:
            try:
                return self.recover()
            except RECOVERABLE_ERRORS as exc:
                if self.report.recoveries > self.max_recoveries:
                    raise
                logger.warning("recovery attempt failed (%s); trying again", exc)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
