"""Retries for control-plane calls, on tenacity, driven sans-IO.

Same triggers and budget as fireworks-ai (408/429/500/502/503/504, connect errors and timeouts;
backoff 1, 2, 4, ... capped at 30 s; 300 s in all; the last sleep clipped to what is left; when
the budget runs out on a status, the last response is returned), with one improvement:
`Retry-After` (seconds or an HTTP date) is honoured when the server sends it.

`retry_step` is a generator that yields `("send", None)` / `("sleep", seconds)` so that the same
policy runs under the sync and the async manager. Tenacity decides; nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity

__all__ = [
    "RetryPolicy",
    "RETRYABLE_STATUS",
    "retry_after_seconds",
    "instant_retries",
    "set_instant_retries",
]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_EXCEPTIONS = (httpx.ConnectError, httpx.TimeoutException)
_INSTANT = False


def set_instant_retries(on: bool = True) -> None:
    """Module-level switch for tests on a real clock: retries wait 0 s (budget still counted)."""
    global _INSTANT
    _INSTANT = on


@contextlib.contextmanager
def instant_retries() -> Iterator[None]:
    """`with instant_retries(): ...` — retries inside do not wait."""
    global _INSTANT
    before, _INSTANT = _INSTANT, True
    try:
        yield
    finally:
        _INSTANT = before


def retry_after_seconds(response: httpx.Response | None, now: float | None = None) -> float | None:
    """The `Retry-After` of a response in seconds (number or HTTP date), or None."""
    if response is None:
        return None
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    import time as _t

    return max(0.0, when.timestamp() - (now if now is not None else _t.time()))


def _outcome(rs: tenacity.RetryCallState) -> tenacity.Future:
    """The attempt's outcome: tenacity sets it before it calls wait/retry/give-up hooks."""
    assert rs.outcome is not None
    return rs.outcome


@dataclass(frozen=True)
class RetryPolicy:
    """How control-plane calls are retried. `instant=True` keeps the decisions, skips the waits."""

    budget_s: float = 300.0
    max_backoff_s: float = 30.0
    honour_retry_after: bool = True
    instant: bool = False
    enabled: bool = True

    def with_(self, **changes: Any) -> RetryPolicy:
        return replace(self, **changes)

    def _retrying(self, now: Callable[[], float]) -> tenacity.Retrying:
        start = now()

        def stop(rs: tenacity.RetryCallState) -> bool:
            return not self.enabled or now() - start >= self.budget_s

        backoff = tenacity.wait_exponential(multiplier=1, exp_base=2, max=self.max_backoff_s)

        def wait(rs: tenacity.RetryCallState) -> float:
            delay = backoff(rs)
            outcome = _outcome(rs)
            if self.honour_retry_after and not outcome.failed:
                hint = retry_after_seconds(outcome.result())
                if hint is not None:
                    delay = hint
            delay = min(delay, max(0.0, start + self.budget_s - now()))
            return 0.0 if (self.instant or _INSTANT) else delay

        def retry(rs: tenacity.RetryCallState) -> bool:
            outcome = _outcome(rs)
            if outcome.failed:
                return isinstance(outcome.exception(), RETRYABLE_EXCEPTIONS)
            return outcome.result().status_code in RETRYABLE_STATUS

        def give_up(rs: tenacity.RetryCallState) -> Any:
            return _outcome(rs).result()  # re-raises a final exception, returns a final response

        return tenacity.Retrying(
            stop=stop, wait=wait, retry=retry, retry_error_callback=give_up, sleep=lambda s: None
        )

    def run(
        self, now: Callable[[], float]
    ) -> Generator[tuple[str, float | None], Any, httpx.Response]:
        """Drive one call: yields ("send", None) -> expects the response (or a thrown httpx
        error), yields ("sleep", s) -> expects None. Returns the final response."""
        r = self._retrying(now)
        r.begin()
        state = tenacity.RetryCallState(retry_object=r, fn=None, args=(), kwargs={})
        while True:
            do = r.iter(retry_state=state)
            if isinstance(do, tenacity.DoAttempt):
                try:
                    resp = yield ("send", None)
                except httpx.HTTPError:
                    state.set_exception(sys.exc_info())  # type: ignore[arg-type]
                else:
                    state.set_result(resp)
            elif isinstance(do, tenacity.DoSleep):
                state.prepare_for_next_attempt()
                yield ("sleep", float(do))
            else:
                return do
