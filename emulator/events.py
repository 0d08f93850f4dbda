"""The event log: what happened, when, in order. Same seed + same calls => same bytes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Event", "EventLog"]


@dataclass(frozen=True)
class Event:
    t: float  # virtual seconds since the clock's start
    seq: int
    kind: str  # e.g. "job.state", "fault.preempt", "checkpoint.saved"
    account: str = ""
    job: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> Event:
        return cls(**json.loads(line))


class EventLog:
    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._listeners: list[Any] = []

    def append(self, t: float, kind: str, account: str = "", job: str = "", **detail: Any) -> Event:
        with self._lock:
            ev = Event(round(t, 6), len(self._events), kind, account, job, detail)
            self._events.append(ev)
        for listener in list(self._listeners):
            listener(ev)
        return ev

    def subscribe(self, listener: Any) -> None:
        """Call `listener(event)` for every later event (the CLI's live view uses this)."""
        self._listeners.append(listener)

    def __iter__(self):
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def since(self, index: int) -> list[Event]:
        """The events from position `index` on: incremental readers keep their own cursor."""
        with self._lock:
            return self._events[index:]

    def filter(self, kind: str | None = None, job: str | None = None) -> list[Event]:
        return [
            e
            for e in self._events
            if (kind is None or e.kind == kind or e.kind.startswith(kind + "."))
            and (job is None or e.job == job)
        ]

    def to_jsonl(self) -> str:
        return "".join(e.to_json() + "\n" for e in self._events)

    @staticmethod
    def parse_jsonl(text: str) -> list[Event]:
        return [Event.from_json(line) for line in text.splitlines() if line.strip()]

    def extend(self, events: Iterable[Event]) -> None:
        with self._lock:
            self._events.extend(events)
