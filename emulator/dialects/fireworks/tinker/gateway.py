"""The Tinker gateway of one job: sessions, models, seq_id ordering and futures.

The routes (`trainer_routes.py`) translate the wire into calls on `TinkerGateway`; it feeds the
job's trainer (a `JobRunner` from the runtime) neutral ops in seq_id order and turns the answers
into future bodies. Everything is guarded by the plane's lock, except long-poll waiting.

Ids carry the trainer incarnation's number, so after a restart old request ids answer 410 and
old model ids 404.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from typing import Any

from ....errors import NotFound, Unavailable
from ....trainer_port import JobRunner, TrainerIncarnation
from .futures import FutureRecord, Gone, long_poll
from .results import answer_body
from .sequencer import Sequencer

__all__ = ["REJECTED", "SEQUENCED_OPS", "THEN", "TinkerGateway"]

# An op whose arguments the route found bad only in content: its future fails in its turn
# with this message (category "user"), as the trainer would have failed it.
REJECTED = "_rejected"
# An op's follow-up in the dialect (never sent to the trainer): `then(body, payload)` -> the
# future's body, run when the op succeeded; an exception fails the future ("user").
THEN = "_then"

# wire op name -> neutral trainer op
SEQUENCED_OPS = {
    "forward": "forward",
    "forward_backward": "forward_backward",
    "optim_step": "optim_step",
    "save_weights": "save_state",
    "load_weights": "load_state",
    "save_weights_for_sampler": "save_for_sampler",
    "load_adapter": "load_adapter",
    "weight_sync": "save_for_sampler",  # a publication: a sampler save, then a hot load
}
_ID_RE = re.compile(r"^(?:req|model|session)-(\d+)-\d+$")


@dataclass
class _Model:
    model_id: str
    session_id: str
    lora_rank: int
    seq: Sequencer


@dataclass
class _Incarnation:
    """The protocol state of one trainer incarnation (dies with it)."""

    inc: TrainerIncarnation
    sessions: dict[str, dict[tuple[int], str]] = field(default_factory=dict)
    models: dict[str, _Model] = field(default_factory=dict)
    records: dict[str, FutureRecord] = field(default_factory=dict)
    n: int = 0

    def next_id(self, kind: str) -> str:
        self.n += 1
        return f"{kind}-{self.inc.number}-{self.n}"


class TinkerGateway:
    """Gateway state of one job across its trainer incarnations."""

    def __init__(
        self,
        runner: JobRunner,
        lock: ContextManager[Any],
        *,
        gap_timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner = runner
        self.lock = lock
        self.job_id = runner.job_id
        self.gap_timeout_s = gap_timeout_s
        self.monotonic = monotonic
        self.dead_numbers: set[int] = set()
        self._state: _Incarnation | None = None

    def _now(self) -> float:
        return self.monotonic()  # read late: a test may swap the clock after models exist

    # ------------------------------------------------------------------ incarnations
    def _live(self) -> _Incarnation | None:
        inc = self.runner.live
        if inc is None or inc.dead:
            return None
        if self._state is None or self._state.inc is not inc:
            state = self._state = _Incarnation(inc)
            inc.on_stop(lambda: self._stopped(state))
        return self._state

    def _stopped(self, state: _Incarnation) -> None:
        """The incarnation is gone: its futures answer 410 from now on (waiters wake)."""
        self.dead_numbers.add(state.inc.number)
        if self._state is state:
            self._state = None
        for rec in state.records.values():
            rec.finish(None, dead=True)

    def require_live(self) -> _Incarnation:
        st = self._live()
        if st is None or not st.inc.ready:
            raise Unavailable(f"the trainer of job {self.job_id} is not running")
        return st

    # ------------------------------------------------------------------ sessions / models
    def create_session(self, wait_s: float = 0.0) -> str:
        inc = self.runner.live
        if inc is not None:  # a booting worker: wait for it (outside the lock) like healthz does
            inc.wait_started(wait_s)
        with self.lock:
            st = self.require_live()
            sid = st.next_id("session")
            st.sessions[sid] = {}
            return sid

    def heartbeat(self, session_id: str) -> None:
        with self.lock:
            st = self._live()
            if st is None or session_id not in st.sessions:
                raise NotFound(f"session {session_id!r} not found (the trainer restarted?)")

    def create_model(
        self,
        session_id: str,
        model_seq_id: int,
        lora_rank: int,
        seed: int,
        lora_alpha: float | None = None,
        answer: dict[str, Any] | None = None,
        model_id: str | None = None,
    ) -> FutureRecord:
        """`answer`: fields added to the future's body (capabilities of this trainer);
        `model_id`: the id to give the model (None: a gateway id; a serverless run names its own)."""
        with self.lock:
            st = self.require_live()
            models = st.sessions.get(session_id)
            if models is None:
                raise NotFound(f"session {session_id!r} not found")
            known = models.get((model_seq_id,))
            if known is not None:  # a retried create_model: the same future
                return st.records[known]
            model_id = model_id or st.next_id("model")
            rec = self._new_record(st, model_id, "create_model")
            models[(model_seq_id,)] = rec.request_id
            st.models[model_id] = _Model(
                model_id, session_id, lora_rank, Sequencer(self.gap_timeout_s, self._now)
            )
            args: dict[str, Any] = {"lora_rank": lora_rank, "seed": seed}
            if lora_alpha:
                args["lora_alpha"] = float(lora_alpha)
            extra = dict(answer or {})
            self._run(
                st, rec, "create_model", model_id, args, then=lambda body, _: {**body, **extra}
            )
            return rec

    def model(self, model_id: str) -> _Model:
        with self.lock:
            st = self._live()
            m = st.models.get(model_id) if st is not None else None
            if m is None:
                raise NotFound(
                    f"model {model_id!r} not found on job {self.job_id}"
                    + (
                        " (the trainer restarted; reconnect and create a new model)"
                        if self._is_dead_id(model_id)
                        else ""
                    )
                )
            return m

    def unload(self, model_id: str) -> FutureRecord:
        with self.lock:
            self.model(model_id)  # 404 for an unknown or dead model
            st = self._live()
            assert st is not None
            del st.models[model_id]
            rec = self._new_record(st, model_id, "unload")
            self._run(st, rec, "unload", model_id, {})
            return rec

    # ------------------------------------------------------------------ sequenced submits
    def submit(
        self,
        wire_op: str,
        model_id: str,
        seq_id: Any,
        args: dict[str, Any],
        error: Exception | None = None,
    ) -> FutureRecord:
        """Accept op `seq_id` of a model; run it once its predecessors ran. `error` (a 4xx the
        route found in the body) rejects the submit but still consumes the seq_id."""
        seq = Sequencer.check(seq_id)
        with self.lock:
            m = self.model(model_id)
            st = self._live()
            assert st is not None
            seen = m.seq.outcome(seq)
            if seen is not None:  # an idempotent repeat (a retry after a lost answer)
                if isinstance(seen, Exception):
                    raise seen
                return st.records[seen]
            if error is not None:
                self._dispatch(st, m, m.seq.accept(seq, None, error, f"model {model_id}"))
                raise error
            if seq < m.seq.next_seq:
                m.seq.accept(seq, None, None, f"model {model_id}")  # raises: already used
            rec = self._new_record(st, model_id, wire_op)
            ready = m.seq.accept(seq, (wire_op, args, rec), rec.request_id, f"model {model_id}")
            self._dispatch(st, m, ready)
            return rec

    def _dispatch(self, st: _Incarnation, m: _Model, ready: list) -> None:
        for wire_op, args, rec in ready:
            op = SEQUENCED_OPS[wire_op]
            if REJECTED in args:
                rec.fail(args[REJECTED], "user")
                continue
            then = args.get(THEN)
            args = {k: v for k, v in args.items() if k != THEN}
            self._run(st, rec, op, m.model_id, args, ref=args.get("ref"), then=then)

    def check_gaps(self) -> float | None:
        """Fail ops stuck behind a seq_id that never came; seconds until the next expiry."""
        with self.lock:
            st = self._live()
            if st is None:
                return None
            soonest = None
            for m in st.models.values():
                for x in m.seq.expire():
                    x.item[2].fail(
                        f"op seq_id {x.seq} of model {m.model_id} waited more than "
                        f"{self.gap_timeout_s:g} s for seq_id {x.missing}, which "
                        "never arrived",
                        "server",
                    )
                left = m.seq.seconds_left()
                if left is not None:
                    soonest = left if soonest is None else min(soonest, left)
            return soonest

    # ------------------------------------------------------------------ trainer traffic
    def _new_record(self, st: _Incarnation, model_id: str | None, op: str) -> FutureRecord:
        rec = FutureRecord(st.next_id("req"), model_id, op)
        st.records[rec.request_id] = rec
        return rec

    def _run(
        self,
        st: _Incarnation,
        rec: FutureRecord,
        op: str,
        model_id: str,
        args: dict[str, Any],
        ref: str | None = None,
        then: Any = None,
    ) -> None:
        def done(ok: bool, payload: Any) -> None:
            if ok:
                body = answer_body(op, payload, model_id=model_id, ref=ref)
                if then is not None:
                    try:
                        body = then(body, payload)
                    except Exception as e:  # the follow-up's failure is the op's
                        rec.fail(getattr(e, "message", None) or str(e), "user")
                        return
                rec.finish(body)
            else:
                category, message = payload
                rec.fail(message, category)

        st.inc.run(op, model_id, args, done)

    # ------------------------------------------------------------------ polling
    def lookup(self, request_id: str) -> FutureRecord:
        with self.lock:
            st = self._live()
            rec = st.records.get(request_id) if st is not None else None
            if rec is not None:
                return rec
            if self._is_dead_id(request_id):
                raise Gone(
                    f"request {request_id} was lost: the trainer of job {self.job_id} "
                    "was stopped (preempted or failed); reconnect and retry"
                )
            raise NotFound(f"request {request_id!r} not found on job {self.job_id}")

    def _is_dead_id(self, some_id: str) -> bool:
        m = _ID_RE.match(some_id)
        return m is not None and int(m.group(1)) in self.dead_numbers

    async def wait(self, rec: FutureRecord, timeout_s: float) -> None:
        """Long-poll: return when `rec` is done, a seq gap expires, or after `timeout_s`."""
        await long_poll(
            rec, timeout_s, lock=self.lock, monotonic=self.monotonic, check_gaps=self.check_gaps
        )
