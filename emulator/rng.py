"""Per-purpose random streams derived from one seed.

Each purpose ("ids", "faults", "latency", ...) gets its own `random.Random`, so adding a fault
does not shift the ids an unrelated part of a scenario sees.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["SeededRandom"]


class SeededRandom:
    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._streams: dict[str, random.Random] = {}

    def stream(self, purpose: str) -> random.Random:
        if purpose not in self._streams:
            digest = hashlib.sha256(f"{self.seed}:{purpose}".encode()).digest()
            self._streams[purpose] = random.Random(int.from_bytes(digest[:8], "big"))
        return self._streams[purpose]

    def hex_id(self, purpose: str, n: int = 8) -> str:
        return "".join(self.stream(purpose).choice("0123456789abcdef") for _ in range(n))
