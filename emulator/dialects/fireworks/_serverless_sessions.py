"""Serverless training sessions: the state behind `/training/v1/serverless` and the
`accounts/<a>/trainingSessions/<ts>` resources.

A session is created bare (`create_session` names no base model); its first `create_model`
binds it to a base model and makes it a core job (dialect `fireworks-serverless`, job id = the
session id) that takes one slot of that base model's serverless pool (`catalog.serverless_pool`,
`SERVERLESS_RUNS` slots). A core job per *session*, not per run, because the session is what the
SDK holds a quota slot for (`delete_training_session` frees it) and what outlives a preemption:
the core restarts the session's trainer (restart policy). Its runs' models are gone then: the
client resumes from the run's newest `trainingSessions` checkpoint, in a new session (the SDK
keeps one training client per configuration and service). Runs (one per model,
`run-<32 hex>`) share the session's trainer and its checkpoint store; a run's save `name` is
stored as `<run>.<name>` (`checkpoint_id`), so runs that save equal names never overwrite each
other, and the SDK's path `<account>/<run>/<name>` names exactly one checkpoint.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import Any

from ...control_plane import ControlPlane, Job
from ...errors import InvalidArgument, NotFound
from ...records import JobSpec, RestartPolicy
from ...states import JobState
from .catalog import serverless_pool

__all__ = [
    "SESSION_DIALECT",
    "Session",
    "PendingModel",
    "sessions_of",
    "new_session",
    "get_session",
    "bind_job",
    "trainer_ref",
    "find_saved",
    "checkpoint_id",
    "split_checkpoint_id",
    "run_of",
    "new_run",
    "run_lora_rank",
    "job_state",
]

SESSION_DIALECT = "fireworks-serverless"
# A preempted session's trainer comes back at once (a warm pool), as often as it is preempted.
_RESTART = RestartPolicy(mode="restart", max_restarts=100, backoff_s=0.0)
_PATH_RE = re.compile(r"^([^/]+)/(run-[0-9a-f]{32})/([^/]+)$")
_RUN_RE = re.compile(r"^run-[0-9a-f]{32}$")


@dataclass
class PendingModel:
    """A `create_model` accepted before the session's trainer ran it: answered at retrieve."""

    model_id: str
    seq: Any  # the SDK's model_seq_id: a retried create_model is the same model
    rank: int
    seed: int
    alpha: float | None
    answer: dict[str, Any]
    request_id: str | None = None  # the gateway's future once submitted
    number: int = 0  # its number in the session: the gateway's model key (one model per run)


@dataclass
class Session:
    account: str
    id: str
    create_time: float
    base_model: str | None = None
    lora_rank: int = 0
    deleted: bool = False
    runs: list[str] = field(default_factory=list)  # run ids, in creation order
    run_ranks: dict[str, int] = field(default_factory=dict)  # run -> its LoRA rank (0: full)
    # Bare checkpoint name -> the run that saved it: only saves from before run-scoped ids
    # (`checkpoint_id`), as a durable store from then holds them; new saves carry their run.
    saved_by: dict[str, str] = field(default_factory=dict)
    pending: dict[str, PendingModel] = field(default_factory=dict)  # by request id
    gw_session: tuple[int, str] | None = None  # (trainer incarnation, gateway session id)
    n: int = 0

    @property
    def name(self) -> str:
        return f"accounts/{self.account}/trainingSessions/{self.id}"


_STORES: weakref.WeakKeyDictionary[ControlPlane, dict[tuple[str, str], Session]] = (
    weakref.WeakKeyDictionary()
)


def sessions_of(cp: ControlPlane) -> dict[tuple[str, str], Session]:
    """The plane's sessions by (account, session id). A plane restored from a durable store
    gets back every session that had a job (the session's record is in the job's payload)."""
    with cp.lock:
        store = _STORES.get(cp)
        if store is None:
            store = _STORES[cp] = {}
            for job in cp.jobs.values():
                if job.dialect == SESSION_DIALECT and "runs" in job.payload:
                    store[job.key] = _restored(job)
        return store


def _restored(job: Job) -> Session:
    p = job.payload
    s = Session(
        job.account,
        job.id,
        float(p.get("create_time", job.create_time)),
        job.spec.base_model,
        job.spec.lora_rank,
        deleted=bool(p.get("deleted")) or job.state in (JobState.DELETING, JobState.DELETED),
        runs=list(p.get("runs", [])),
        saved_by=dict(p.get("saved_by", {})),
        run_ranks={r: int(k) for r, k in p.get("run_ranks", {}).items()},
    )
    # one record: the payload stays current
    p["runs"], p["saved_by"], p["run_ranks"] = s.runs, s.saved_by, s.run_ranks
    return s


def new_session(cp: ControlPlane, account: str) -> Session:
    with cp.lock:
        sid = "ts-" + cp.rng.hex_id("serverless-session", 16)
        s = Session(account, sid, cp.now())
        sessions_of(cp)[(account, sid)] = s
        cp.log("serverless.session_created", account, sid)
        return s


def get_session(cp: ControlPlane, account: str, session_id: str) -> Session:
    """The caller's session (a session of another account does not exist for it: 404)."""
    s = sessions_of(cp).get((account, session_id))
    if s is None:
        raise NotFound(
            f"training session accounts/{account}/trainingSessions/{session_id} not found"
        )
    return s


def bind_job(cp: ControlPlane, s: Session, base_model: str, lora_rank: int) -> Job:
    """The session's core job, created by its first model (which names the base model)."""
    with cp.lock:
        if s.base_model is None:
            entry, _ = cp.resolve_base_model(base_model, s.account)  # 404: an unknown model
            spec = JobSpec(
                base_model=base_model,
                lora_rank=lora_rank,
                accelerator_type=serverless_pool(entry.name),
                accelerator_count=1,
                provision_s=0.0,  # a pooled trainer is warm: placing a session takes no time
                display_name=s.name,
            )
            # The payload holds the session's durable record (the same list and dict objects:
            # a durable store writes the job when its events say it changed).
            payload = {
                "create_time": s.create_time,
                "runs": s.runs,
                "saved_by": s.saved_by,
                "run_ranks": s.run_ranks,
            }
            job = cp.create_job(
                s.account, s.id, spec, payload, dialect=SESSION_DIALECT, restart=_RESTART
            )
            s.base_model, s.lora_rank = base_model, lora_rank
            return job
        if base_model != s.base_model:
            raise InvalidArgument(
                f"training session {s.id} is bound to base model {s.base_model}; "
                f"create_model asked for {base_model}"
            )
        return cp.get_job(s.account, s.id, SESSION_DIALECT)


def new_run(cp: ControlPlane, s: Session, lora_rank: int) -> str:
    with cp.lock:
        run_id = "run-" + cp.rng.hex_id("serverless-run", 32)
        s.runs.append(run_id)
        s.run_ranks[run_id] = lora_rank
        cp.log("serverless.run_created", s.account, s.id, run=run_id)
        return run_id


def run_of(model_id: str) -> str | None:
    run_id, sep, _ = model_id.partition(":train:")
    return run_id if sep else None


def checkpoint_id(run_id: str, name: str) -> str:
    """The stored id of run `run_id`'s save `name`: `<run>.<name>`. The session's runs share
    one trainer and one checkpoint store, and the SDK keeps save names per training client
    (`_saved_state_names`), so two runs saving `step-2` are two checkpoints. It is what the list
    shows after `.../checkpoints/` (one segment, as `promote_session_checkpoint` requires)."""
    return f"{run_id}.{name}"


def split_checkpoint_id(stored: str) -> tuple[str | None, str]:
    """(run, save name) of a stored id; (None, id) for a save no run owns."""
    run_id, dot, name = stored.partition(".")
    return (run_id, name) if dot and _RUN_RE.match(run_id) else (None, stored)


def _ids(cp: ControlPlane, s: Session) -> set[str]:
    if (s.account, s.id) not in cp.jobs:
        return set()  # no model yet: nothing saved
    return {c.name for c in cp.list_checkpoints(s.account, s.id)}


def _owner(cp: ControlPlane, account: str, run_id: str) -> Session | None:
    return next(
        (x for x in sessions_of(cp).values() if x.account == account and run_id in x.runs), None
    )


def _by_bare_name(cp: ControlPlane, s: Session, name: str, run_id: str | None) -> str | None:
    """The stored id a bare name means in session `s`: the calling run's own save, a list row's
    id, or the one run of the session that saved it (several: ambiguous, 400)."""
    ids = _ids(cp, s)
    if run_id is not None and checkpoint_id(run_id, name) in ids:
        return checkpoint_id(run_id, name)
    if name in ids:
        return name
    savers = [r for r in s.runs if checkpoint_id(r, name) in ids]
    if len(savers) > 1:
        raise InvalidArgument(
            f"checkpoint {name!r} was saved by {len(savers)} runs of training session {s.id} "
            f"({', '.join(savers)}); name it by the path its save returned "
            f"('<account>/<run-id>/{name}')"
        )
    return checkpoint_id(savers[0], name) if savers else None


def find_saved(cp: ControlPlane, s: Session | None, account: str, path: str) -> tuple[Session, str]:
    """A saved checkpoint by the path its save returned (`<account>/<run>/<name>`) in any
    session of the account, or by a bare name or list-row id in session `s`: (the session that
    holds it, its stored id). 404 when there is none."""
    m = _PATH_RE.match(path)
    if m is None:
        if "/" in path or s is None:
            raise InvalidArgument(f"checkpoint path {path!r} is not '<account>/<run-id>/<name>'")
        stored = _by_bare_name(cp, s, path, None)
        if stored is None:
            raise NotFound(f"checkpoint {path!r} not found in training session {s.id}")
        return s, stored
    owner_account, run_id, name = m.groups()
    owner = _owner(cp, account, run_id) if owner_account == account else None
    if owner is None:
        raise NotFound(f"checkpoint {path!r} not found in account {account}")
    ids = _ids(cp, owner)
    if checkpoint_id(run_id, name) in ids:
        return owner, checkpoint_id(run_id, name)
    if owner.saved_by.get(name) == run_id and name in ids:
        return owner, name  # saved before run-scoped ids (a durable store from then)
    raise NotFound(f"checkpoint {path!r} not found in training session {owner.id}")


def trainer_ref(cp: ControlPlane, s: Session, path: str, run_id: str | None) -> str:
    """A checkpoint path as the SDK holds it (`<account>/<run>/<name>`, or a bare name) as the
    trainer's reference for a load by run `run_id`: the stored id in this session,
    `cross_job://<ts>/<stored id>` in another session of the account. A path names its run's
    save even if that save is still queued (the trainer says 'not found' if it never lands)."""
    m = _PATH_RE.match(path)
    if m is None:
        if "/" in path:
            raise InvalidArgument(
                f"checkpoint path {path!r} is not '<account>/<run-id>/<checkpoint>'"
            )
        stored = _by_bare_name(cp, s, path, run_id)
        if stored is None:  # perhaps this run's save queued ahead of the load
            stored = checkpoint_id(run_id, path) if run_id is not None else path
        return stored
    account, owner_run, name = m.groups()
    if account != s.account:
        raise NotFound(f"checkpoint {path!r} not found in account {s.account}")
    owner = _owner(cp, account, owner_run)
    if owner is None:
        raise NotFound(f"run {owner_run} of checkpoint {path!r} not found")
    stored = checkpoint_id(owner_run, name)
    if owner.saved_by.get(name) == owner_run and stored not in _ids(cp, owner):
        stored = name  # saved before run-scoped ids (a durable store from then)
    return stored if owner is s else f"cross_job://{owner.id}/{stored}"


def run_lora_rank(s: Session, run_id: str | None) -> int:
    """A run's LoRA rank (0: full): the runs of one session may differ."""
    return s.run_ranks.get(run_id or "", s.lora_rank)


def job_state(cp: ControlPlane, s: Session) -> JobState | None:
    job = cp.jobs.get((s.account, s.id))
    return job.state if job is not None else None
