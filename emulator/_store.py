"""Durable state for a server a team leaves running: a write-through SQLite store (WAL).

`Store.sync(cp)` writes what changed since the last call and commits; `StoreMiddleware` calls it
before a response starts, so whatever a client saw acknowledged is on disk. What changed is read
off the event log (every state change logs an event naming its job), plus the clock, the random
streams, armed faults and jobs dropped after their retention.

`Store.restore(cp)` rebuilds a control plane from the file: accounts, jobs, checkpoint rows,
models, events, armed faults, the clock and the random streams. The timers a crash lost are
re-made from each job's state; a job whose trainer was running comes back the way a node
failure leaves it (FAILED, logged, then its restart policy), as a real service's would after
losing the machine under it."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

from .events import Event
from .faults import FaultPlan
from .records import CheckpointRecord, Job, JobSpec, ModelRecord, RestartPolicy
from .states import JobState

if TYPE_CHECKING:
    from .control_plane import ControlPlane

__all__ = ["Store", "StoreMiddleware", "STORE_FILE"]

STORE_FILE = "drydock.sqlite3"
S = JobState
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, account TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (account TEXT, id TEXT, body TEXT NOT NULL,
                                 PRIMARY KEY (account, id));
CREATE TABLE IF NOT EXISTS checkpoints (account TEXT, job TEXT, rows TEXT NOT NULL,
                                        PRIMARY KEY (account, job));
CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""
# Job fields kept as they are (the rest are rebuilt: spec, state, restart, model, shape, timers).
_PLAIN = [
    f.name
    for f in fields(Job)
    if f.name
    not in ("spec", "state", "restart", "model", "shape_version", "next_event", "idle_event")
]


def _job_row(job: Job) -> str:
    row = {k: getattr(job, k) for k in _PLAIN}
    row.update(
        spec=asdict(job.spec),
        state=job.state.value if job.state else None,
        restart=job.restart.model_dump(),
    )
    return json.dumps(row, separators=(",", ":"))


class Store:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / STORE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (the OS has the
        # pages); only a power loss could take the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._reset_cursors()

    def _reset_cursors(self) -> None:
        self._events = 0
        self._faults = 0
        self._jobs: set[tuple[str, str]] = set()
        self._rng: dict[str, Any] = {}
        self._accounts: set[str] = set()

    @property
    def empty(self) -> bool:
        return self._db.execute("SELECT count(*) FROM meta").fetchone()[0] == 0

    def clear(self) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            for table in ("meta", "accounts", "jobs", "checkpoints", "models", "events", "faults"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute("COMMIT")
            self._reset_cursors()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ write-through
    def sync(self, cp: ControlPlane) -> None:
        """Write what changed since the last sync, in one transaction."""
        with cp.lock, self._lock:
            new_events = cp.events.since(self._events)
            touched = {(e.account, e.job) for e in new_events if e.job}
            gone = self._jobs - cp.jobs.keys()
            new_faults = cp.faults[self._faults :]
            new_keys = cp._keys.keys() - self._accounts
            rng = {p: r.getstate() for p, r in cp.rng._streams.items()}
            rng_changed = rng != self._rng
            db = self._db
            db.execute("BEGIN")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('clock', ?)",
                    (json.dumps({"now": cp.clock.now(), "start": cp.clock.start}),),
                )
                db.execute("INSERT OR REPLACE INTO meta VALUES ('seed', ?)", (str(cp.seed),))
                for api_key in new_keys:
                    db.execute(
                        "INSERT OR REPLACE INTO accounts VALUES (?, ?)",
                        (api_key, cp._keys[api_key]),
                    )
                db.executemany(
                    "INSERT OR REPLACE INTO events VALUES (?, ?)",
                    [(e.seq, e.to_json()) for e in new_events],
                )
                for i, f in enumerate(new_faults, start=self._faults):
                    db.execute(
                        "INSERT OR REPLACE INTO faults VALUES (?, ?)", (i, f.model_dump_json())
                    )
                for key in touched:
                    job = cp.jobs.get(key)
                    if job is None:
                        continue
                    db.execute(
                        "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)", (*key, _job_row(job))
                    )
                    rows = cp.checkpoints.get(key)
                    if rows:
                        db.execute(
                            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                            (*key, json.dumps([asdict(r) for r in rows.values()])),
                        )
                for key in gone:
                    db.execute("DELETE FROM jobs WHERE account=? AND id=?", key)
                    db.execute("DELETE FROM checkpoints WHERE account=? AND job=?", key)
                if any(e.kind == "model.promoted" for e in new_events):
                    for name, rec in cp.models.items():
                        db.execute(
                            "INSERT OR REPLACE INTO models VALUES (?, ?)",
                            (name, json.dumps(asdict(rec))),
                        )
                if rng_changed:
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('rng', ?)", (json.dumps(rng),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._events += len(new_events)
            self._faults = len(cp.faults)
            self._jobs = (self._jobs | {k for k in touched if k in cp.jobs}) - gone
            self._accounts |= new_keys
            self._rng = rng

    def dirty(self, cp: ControlPlane) -> bool:
        """Anything a sync would write? (Cheap: asked after every request.)"""
        return (
            len(cp.events) != self._events
            or len(cp.faults) != self._faults
            or len(cp.jobs) != len(self._jobs)
        )

    # ------------------------------------------------------------------ restore
    def restore(self, cp: ControlPlane) -> int:
        """Load the file into a fresh control plane (its accounts already added); re-make the
        timers a crash lost. Returns how many jobs came back."""
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta"))
        with cp.lock:
            for key, account in db.execute("SELECT key, account FROM accounts"):
                cp.add_account(account, key)
            clock = json.loads(meta.get("clock", "null") or "null")
            if clock is not None:
                _set_clock(cp.clock, clock["start"], clock["now"])
            for purpose, state in json.loads(meta.get("rng", "{}")).items():
                cp.rng.stream(purpose).setstate(_tuples(state))
            cp.events.extend(
                Event.from_json(b) for (b,) in db.execute("SELECT body FROM events ORDER BY seq")
            )
            loaded = len(cp.events)
            for (body,) in db.execute("SELECT body FROM models"):
                rec = ModelRecord(**json.loads(body))
                cp.models[rec.name] = rec
            for account, job_id, rows in db.execute("SELECT account, job, rows FROM checkpoints"):
                cp.checkpoints[(account, job_id)] = {
                    r["name"]: CheckpointRecord(**r) for r in json.loads(rows)
                }
            jobs = [
                _job_from_row(cp, json.loads(b)) for (b,) in db.execute("SELECT body FROM jobs")
            ]
            jobs.sort(key=lambda j: (j.create_time, j.id))
            for job in jobs:
                cp.jobs[job.key] = job
            plan = FaultPlan.model_validate(
                {
                    "faults": [
                        json.loads(b) for (b,) in db.execute("SELECT body FROM faults ORDER BY seq")
                    ]
                }
            )
            elapsed = cp.clock.elapsed()
            for f in plan.faults:
                cp.faults.append(f)
                # A timed fault whose time has passed already fired (or was skipped): not again.
                at = getattr(f, "at_s", None)
                if at is None or at > elapsed or getattr(f, "rate_per_hour", None):
                    f.arm(cp.fault_host)
            cp.log("server.restored", jobs=len(jobs), events=len(cp.events))
            for job in jobs:
                _rearm(cp, job)
            cp._drain_queue()
        # What restoring itself logged (the node failures) is written by the next sync.
        self._events, self._faults = loaded, len(cp.faults)
        self._jobs = set(cp.jobs)
        self._accounts = set(cp._keys)
        return len(jobs)


def _tuples(state: Any) -> Any:
    """random.getstate() after a JSON round trip (lists back to tuples)."""
    return tuple(_tuples(x) for x in state) if isinstance(state, list) else state


def _set_clock(clock: Any, start: float, now: float) -> None:
    """Time resumes where it stood (a server's downtime is no virtual time)."""
    if hasattr(clock, "_offset"):  # scaled and wall clocks
        clock.start = start
        clock._offset = 0.0
        clock._offset = now - clock.now()
    elif hasattr(clock, "_now"):  # virtual
        clock.start = start
        clock._now = now


def _job_from_row(cp: ControlPlane, row: dict) -> Job:
    spec = JobSpec(**row.pop("spec"))
    state = row.pop("state")
    restart = RestartPolicy(**row.pop("restart"))
    job = Job(spec=spec, state=S(state) if state else None, restart=restart, **row)
    job.model, _ = cp.resolve_base_model(spec.base_model)
    if job.shape_version_name:
        _, job.shape_version = cp.catalog.shape(job.shape_version_name)
    return job


def _rearm(cp: ControlPlane, job: Job) -> None:
    """The timer the crash lost, from the job's state."""
    t = cp.timings
    if job.state == S.PENDING:
        cp._queue.append(job.key)
    elif job.state == S.CREATING:
        cp._after(job, t.provision_s, lambda: cp._transition(job, S.RUNNING, "trainer started"))
    elif job.state in (S.RUNNING, S.IDLE):
        # The machine under it went away: what a node failure does to a job (as the
        # node_failure fault does it: FAILED with an INTERNAL status, then its restart policy).
        cp.log("fault.node_failure", job.account, job.id, fired=True, reason="server restart")
        cp.preempt_job(
            job.account,
            job.id,
            "node 0 failed: the emulator restarted under the job",
            code="INTERNAL",
        )
    elif job.state == S.DELETING:

        def deleted() -> None:
            cp._transition(job, S.DELETED, "deletion finished")
            cp._after(job, t.deleted_retention_s, lambda: cp._drop(job))

        cp._after(job, t.delete_s, deleted)
    elif job.state == S.DELETED:
        cp._after(job, t.deleted_retention_s, lambda: cp._drop(job))
    elif job.state == S.CANCELLING:
        cp._after(job, t.cancel_s, lambda: cp._transition(job, S.CANCELLED, job.status_message))


class StoreMiddleware:
    """Syncs the store before each response starts (so an acknowledged write is on disk), after
    any request that changed something. Pure ASGI."""

    def __init__(
        self, app: ASGIApp, store: Store, control_plane_getter: Callable[[], ControlPlane]
    ) -> None:
        self.app = app
        self._store = store
        self._cp = control_plane_getter

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        store, cp_of = self._store, self._cp

        async def send_after_sync(message):
            if message["type"] == "http.response.start":
                cp = cp_of()
                if store.dirty(cp):
                    store.sync(cp)
            await send(message)

        await self.app(scope, receive, send_after_sync)
