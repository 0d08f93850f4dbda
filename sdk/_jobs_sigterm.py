"""Checkpoint-on-SIGTERM: the final checkpoint a preempted job writes within its grace period.

Two modes:

* immediate (default): the signal handler itself runs the save callback (Python runs handlers in
  the main thread between bytecodes), registers the result and exits. Simple, but the callback
  may run in the middle of a training step, so it must save state that is consistent at any
  bytecode boundary (or take a copy under its own lock).
* deferred (`defer=True`): the handler only records the request; the training loop calls
  `guard.poll()` at safe points (step boundaries) and the checkpoint happens there.

In both modes the grace timer starts when SIGTERM arrives; if the checkpoint has not finished
when it expires, the process ends at once with `GRACE_EXPIRED_EXIT_CODE` (the previous checkpoint
and `latest` pointer are intact, since every write is atomic). A save blocked inside C code
(e.g. a stuck fsync) delays the handler but not the timer.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType, TracebackType

from ._jobs_errors import SigtermGuardError

__all__ = [
    "SigtermGuard",
    "PREEMPTED_EXIT_CODE",
    "GRACE_EXPIRED_EXIT_CODE",
    "SAVE_FAILED_EXIT_CODE",
]

PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM: checkpointed, not finished
GRACE_EXPIRED_EXIT_CODE = 137  # 128 + SIGKILL: what the supervisor would have done next
SAVE_FAILED_EXIT_CODE = 1


class SigtermGuard:
    """Context manager installing the SIGTERM handler; restores the previous one on exit.

    `checkpoint` performs the final save and register (built by
    `RestoreableJob.checkpoint_on_sigterm`). After it succeeds the guard raises
    `SystemExit(exit_code)` in the main thread, so `finally` blocks and context managers unwind.
    """

    def __init__(
        self, checkpoint: Callable[[], None], *, grace_s: float, exit_code: int, defer: bool
    ) -> None:
        if not grace_s > 0:
            raise SigtermGuardError(f"grace_s must be > 0, got {grace_s!r}")
        self._checkpoint = checkpoint
        self.grace_s = float(grace_s)
        self.exit_code = exit_code
        self.defer = defer
        self._requested = threading.Event()
        self._saving = False
        self._timer: threading.Timer | None = None
        self._previous: signal.Handlers | Callable[..., object] | int | None = None
        self._installed = False

    @property
    def requested(self) -> bool:
        """True once SIGTERM has arrived."""
        return self._requested.is_set()

    def __enter__(self) -> SigtermGuard:
        if threading.current_thread() is not threading.main_thread():
            raise SigtermGuardError("checkpoint_on_sigterm must be entered in the main thread")
        if self._installed:
            raise SigtermGuardError("this SIGTERM guard is already installed")
        self._previous = signal.signal(signal.SIGTERM, self._on_signal)
        self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
        if self._timer is not None:
            self._timer.cancel()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._requested.is_set():
            return  # a second SIGTERM while we are already on it
        self._requested.set()
        self._timer = threading.Timer(self.grace_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        if not self.defer:
            self._finish()

    def poll(self) -> None:
        """Deferred mode: call at safe points; checkpoints and exits if SIGTERM has arrived."""
        if self._requested.is_set() and not self._saving:
            self._finish()

    def _finish(self) -> None:
        self._saving = True
        try:
            self._checkpoint()
        except Exception:
            traceback.print_exc()
            print("drydock: final checkpoint on SIGTERM failed", file=sys.stderr, flush=True)
            code = SAVE_FAILED_EXIT_CODE
        else:
            code = self.exit_code
        if self._timer is not None:
            self._timer.cancel()
        raise SystemExit(code)

    def _expire(self) -> None:
        print(
            f"drydock: final checkpoint not done within grace_s={self.grace_s}; exiting",
            file=sys.stderr,
            flush=True,
        )
        os._exit(GRACE_EXPIRED_EXIT_CODE)
