"""Per-model op ordering by `seq_id`: ops run in 1, 2, 3... order, whatever order they arrive in.

An op that arrives early waits for its predecessors; if a missing one has not come after
`gap_timeout_s` (read from the injected monotonic clock), everything waiting behind it fails.
A seq_id is used once: a repeat returns what the first one got (an idempotent retry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ....errors import InvalidArgument

__all__ = ["GapExpired", "Sequencer"]

T = TypeVar("T")


@dataclass(frozen=True)
class GapExpired(Generic[T]):
    """An op that waited too long: `item` (seq `seq`) never saw seq `missing`."""

    seq: int
    item: T
    missing: int


class Sequencer(Generic[T]):
    def __init__(self, gap_timeout_s: float, monotonic: Callable[[], float]) -> None:
        self.gap_timeout_s = gap_timeout_s
        self.monotonic = monotonic
        self.next_seq = 1
        self.pending: dict[int, T | None] = {}  # seq -> item (None: a rejected op's slot)
        self.outcomes: dict[int, Any] = {}  # seq -> what the op got (an id or an error)
        self.gap_since: float | None = None

    @staticmethod
    def check(seq_id: Any) -> int:
        if isinstance(seq_id, bool) or not isinstance(seq_id, int) or seq_id < 1:
            raise InvalidArgument(f"seq_id must be a positive integer, got {seq_id!r}")
        return seq_id

    def outcome(self, seq: int) -> Any:
        """What op `seq` got the first time (None: not seen)."""
        return self.outcomes.get(seq)

    def accept(self, seq: int, item: T | None, outcome: Any, what: str = "model") -> list[T]:
        """Take op `seq` (item None: rejected, but its slot counts); the ops now runnable, in
        order. Raises InvalidArgument for a seq_id below the next one that was never seen."""
        if seq < self.next_seq:
            raise InvalidArgument(f"seq_id {seq} of {what} was already used")
        self.outcomes[seq] = outcome
        self.pending[seq] = item
        ready: list[T] = []
        while self.next_seq in self.pending:
            got = self.pending.pop(self.next_seq)
            self.next_seq += 1
            if got is not None:
                ready.append(got)
        if not self.pending:
            self.gap_since = None
        elif self.gap_since is None:
            self.gap_since = self.monotonic()
        return ready

    def seconds_left(self) -> float | None:
        """Seconds until the current gap expires (None: no gap)."""
        if not self.pending or self.gap_since is None:
            return None
        return self.gap_since + self.gap_timeout_s - self.monotonic()

    def expire(self) -> list[GapExpired[T]]:
        """If the gap has expired: drop every waiting op (returned, to be failed) and go on
        after the last of them."""
        left = self.seconds_left()
        if left is None or left > 0:
            return []
        missing, out = self.next_seq, []
        for seq in sorted(self.pending):
            item = self.pending.pop(seq)
            if item is not None:
                out.append(GapExpired(seq, item, missing))
            self.next_seq = seq + 1
        self.gap_since = None
        return out
