"""Client-side virtual time: make a real client library's sleeps and clock reads use the
emulator's clock, so `create_and_wait(timeout_s=900)` runs in milliseconds.

    with Emulator(timings=Timings(provision_s=600)) as emu, emu.serve() as server:
        with virtual_time(emu) as vt:
            mgr.create_and_wait(config)          # the SDK's polls sleep 5 s each: virtual
        assert vt.elapsed() >= 600

How it works: freezegun patches `time.time`/`monotonic`/`perf_counter`/`datetime.now` (and the
copies modules imported by name) with functions that read our clock on every call; `time.sleep`
is patched to advance the clock. Both apply only to the thread(s) that entered the warp:

* Other threads keep real time and real sleeps (the in-process server, trainer workers, a
  pytest-timeout watchdog). A helper thread the code under test starts is NOT warped.
* Code in the ignore list (`DEFAULT_IGNORE`: the HTTP stack, asyncio, threading, drydock's own
  emulator, ...) reads real time even in a warped thread, so connection-pool timers and the
  emulator's wall/scaled clocks keep working; `time.sleep` called from there sleeps for real.
* Not warped at all: asyncio event loops (`asyncio.sleep`, `loop.time`), waits with a timeout
  on locks/events/queues/futures (they block in C or in ignored modules), C extensions that read
  the OS clock, other processes (use `remote_virtual_time` in them), and names bound with
  `from time import sleep` after the warp started.
* Naive `datetime.now()` reads UTC inside the warp (freezegun's convention); aware reads
  (`datetime.now(timezone.utc)`) are exact.

Do not interleave it with your own `freezegun.freeze_time` (nest it strictly inside, if at all).

Cost: the first warp in a process installs the patches (a walk over every loaded module, tens of
milliseconds) and the last one to leave removes them. Code that enters many warps in a row (a
seed sweep's worker, a loop over scenarios) holds them once with `keep_patched()`; inside it a
warp's enter and exit only register the thread. Threads outside every warp still get real time
and real sleeps there, but `time.sleep`/`time.time` are drydock's and freezegun's functions.
"""

from __future__ import annotations

import sys
import threading
import time as _time
from collections.abc import Iterable
from datetime import datetime as _dt
from datetime import timezone as _tz
from typing import Any, Protocol

__all__ = [
    "virtual_time",
    "remote_virtual_time",
    "keep_patched",
    "VirtualTime",
    "VirtualTimeError",
    "DEFAULT_IGNORE",
]

# Modules that always see real time: servers and HTTP transports in this process, the event
# loop and thread machinery, and drydock's own emulator (its wall and scaled clocks read time).
DEFAULT_IGNORE: tuple[str, ...] = (
    "uvicorn",
    "starlette",
    "fastapi",
    "anyio",
    "asyncio",
    "sniffio",
    "h11",
    "h2",
    "httpcore",
    "httpx",
    "concurrent",
    "threading",
    "selectors",
    "socket",
    "ssl",
    "queue",
    "subprocess",
    "multiprocessing",
    "drydock.emulator",
    # pytest's own clock (bound at import): test durations and timeouts stay in wall time.
    "_pytest.timing",
    # Only this module: the pytest plugin's fixtures call user code (scenario workloads) whose
    # sleeps must stay virtual, and ignoring is decided by walking up the caller's frames.
    "drydock.testing.virtual_time",
)

_real_sleep = _time.sleep
_real_monotonic = _time.monotonic


class VirtualTimeError(RuntimeError):
    """The virtual clock could not be read or advanced (bad target, server error, clock cap)."""


class _Source(Protocol):
    def now(self) -> float: ...
    def advance(self, seconds: float) -> None: ...


class _EmulatorSource:
    """Reads `emulator.clock` on every call, so it follows `Emulator.reset()`."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator

    def now(self) -> float:
        return self.emulator.clock.now()

    def advance(self, seconds: float) -> None:
        self.emulator.advance(seconds)


class _ClockSource:
    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        lock = getattr(self.clock, "lock", None)
        if lock is None:
            self.clock.advance(seconds)
        else:
            with lock:
                self.clock.advance(seconds)


class _RemoteSource:
    """The clock of an emulator in another process, over its /_drydock control API.

    Virtual clocks move only when advanced, so reads use the value cached after the last
    advance (`refresh()` re-reads it). Wall and scaled clocks are re-read at most every 10 ms
    and extrapolated at wall speed in between.
    """

    def __init__(self, base_url: str, admin_token: str | None, timeout_s: float) -> None:
        import httpx

        headers = {"X-Drydock-Admin-Token": admin_token} if admin_token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self.kind = "virtual"
        self._now = 0.0
        self._read_at = 0.0
        self.refresh()

    def _call(self, method: str, path: str, **kw: Any) -> dict:
        try:
            resp = self._http.request(method, path, **kw)
        except Exception as exc:  # connection refused, timeout: say which server
            raise VirtualTimeError(f"drydock clock at {self._http.base_url}{path}: {exc}") from exc
        if resp.status_code != 200:
            raise VirtualTimeError(
                f"drydock clock at {self._http.base_url}{path}: "
                f"HTTP {resp.status_code}: {resp.text[:300]}"
            )
        return resp.json()

    def refresh(self) -> None:
        data = self._call("GET", "/_drydock/clock")
        self.kind = data.get("kind", "virtual")
        self._now, self._read_at = float(data["now"]), _real_monotonic()

    def now(self) -> float:
        if self.kind == "virtual":
            return self._now
        wall = _real_monotonic() - self._read_at
        if wall > 0.01:
            self.refresh()
            wall = 0.0
        return self._now + wall

    def advance(self, seconds: float) -> None:
        data = self._call("POST", "/_drydock/clock/advance", json={"seconds": seconds})
        self._now, self._read_at = float(data["now"]), _real_monotonic()

    def close(self) -> None:
        self._http.close()


def _source_for(target: Any) -> _Source:
    if hasattr(target, "emulator") and hasattr(target.emulator, "control_plane"):
        target = target.emulator  # a ServerThread
    if hasattr(target, "control_plane") and hasattr(target, "advance"):
        return _EmulatorSource(target)
    if callable(getattr(target, "now", None)) and callable(getattr(target, "advance", None)):
        return _ClockSource(target)
    raise VirtualTimeError(
        f"virtual_time() needs an Emulator, a ServerThread or a Clock, got {type(target).__name__}"
    )


# ---------------------------------------------------------------- process-wide patch state
# One freezegun activation is shared by every warp in the process (refcounted); each warp
# registers the threads it applies to. The freeze factory and the sleep patch dispatch on the
# calling thread.
_state_lock = threading.RLock()
_warps: dict[int, list[VirtualTime]] = {}  # thread ident -> stack of active warps
_active = 0
_freezer: Any = None
_orig_should_use_real: Any = None
_sleep_patches: list[tuple[Any, str]] = []
_patch_ignore: tuple[str, ...] = ()  # the ignore list the patches were installed with
_fg: Any = None  # freezegun.api, imported on first use (keeps `import drydock.testing` light)


def _current() -> VirtualTime | None:
    stack = _warps.get(threading.get_ident())
    return stack[-1] if stack else None


# Frames that only start other code (a thread's run loop, an executor worker): the walk stops
# there, so a function running in a thread is not "called by threading" and ignored.
_TRAMPOLINES = {
    ("threading", "run"),
    ("threading", "_bootstrap_inner"),
    ("threading", "_bootstrap"),
    ("concurrent.futures.thread", "run"),
    ("concurrent.futures.thread", "_worker"),
}


def _ignored(frame: Any, ignore: tuple[str, ...], depth: int = 5) -> bool:
    """True when one of the `depth` innermost callers belongs to an ignored module."""
    for _ in range(depth):
        if frame is None:
            return False
        name = frame.f_globals.get("__name__")
        if (name, frame.f_code.co_name) in _TRAMPOLINES:
            return False
        if name and name.startswith(ignore):
            return True
        frame = frame.f_back
    return False


def _fake_sleep(seconds: float) -> None:
    warp = _current()
    if warp is None or _ignored(sys._getframe(1), warp.ignore):
        return _real_sleep(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    warp._sleep(float(seconds))


def _factory() -> _dt:
    """freezegun calls this on every read: our clock for warped threads, real time otherwise."""
    warp = _current()
    ts = warp.source.now() if warp is not None else _time_real()
    return _dt.fromtimestamp(ts, _tz.utc).replace(tzinfo=None)


def _time_real() -> float:
    return _fg.real_time()


def _should_use_real_time() -> bool:
    """freezegun's own check, plus: threads outside every warp always get real time, and the
    ignore list is the calling thread's warp's (the patches may have been installed by
    another warp, or by `keep_patched()`)."""
    api = _fg
    warp = _current()
    if warp is None or not api.ignore_lists:
        return True
    if not api.call_stack_inspection_limit:
        return False
    return _ignored(sys._getframe(2), warp.ignore, api.call_stack_inspection_limit)


def _prime_lazy_modules(api: Any, ignore: tuple[str, ...]) -> None:
    """freezegun scans every module with dir() + getattr(); on a lazy package (PEP 562
    `__getattr__` like `fireworks.training.sdk`, or transformers' `_LazyModule`) that imports
    everything it exports: seconds, or a crash. Seed its cache from the attributes already
    loaded (`vars()`, the same set for an ordinary module) instead."""
    cache = getattr(api, "_GLOBAL_MODULES_CACHE", None)
    ids = getattr(api, "_real_time_object_ids", None)
    hash_of = getattr(api, "_get_module_attributes_hash", None)
    if cache is None or ids is None or hash_of is None:
        return
    for name, mod in list(sys.modules.items()):
        if mod is None or name.startswith(ignore) or not hasattr(mod, "__dict__"):
            continue
        try:
            key = hash_of(mod)
            if cache.get(mod.__name__, ("",))[0] != key:
                cache[mod.__name__] = (
                    key,
                    [(k, v) for k, v in list(vars(mod).items()) if id(v) in ids],
                )
        except Exception:  # an odd module: leave it to freezegun
            continue


def _start_patches(ignore: tuple[str, ...]) -> None:
    global _freezer, _orig_should_use_real, _fg
    from freezegun import api, freeze_time

    _fg = api
    _prime_lazy_modules(api, ignore)
    _freezer = freeze_time("2026-01-01", ignore=list(ignore))
    _freezer.start()
    api.freeze_factories[-1] = _factory  # type: ignore[call-overload]  # our clock, by design
    _orig_should_use_real = getattr(api, "_should_use_real_time", None)
    if _orig_should_use_real is not None:
        api._should_use_real_time = _should_use_real_time
    _time.sleep = _fake_sleep  # type: ignore[assignment]  # takes the seconds time.sleep does
    # Modules that did `from time import sleep` hold the real function: patch those too.
    for name, mod in list(sys.modules.items()):
        if mod is None or name.startswith(ignore) or name == "time":
            continue
        try:
            attrs = vars(mod)
        except TypeError:
            continue
        for attr, value in list(attrs.items()):
            if value is _real_sleep:
                setattr(mod, attr, _fake_sleep)
                _sleep_patches.append((mod, attr))


def _restore_new_modules(freezer: Any, ignore: tuple[str, ...]) -> None:
    """Undo the fakes in modules imported while the patches were on, reading each module's
    own `__dict__`; then tell freezegun there is nothing left for its own walk to do.

    freezegun's stop() does the same with dir() + getattr() on every new module: on a lazy
    package (PEP 562 `__getattr__`: fireworks.training.sdk) that imports everything it exports
    (measured: 1.6 s, torch included, on the first run of a scenario). An attribute a lazy
    module has not loaded yet is not in its `__dict__`, and cannot hold a fake."""
    at_start = getattr(freezer, "modules_at_start", None)
    reals = getattr(freezer, "reals", None)
    if not isinstance(at_start, set) or not isinstance(reals, dict):
        return  # another freezegun: let its own stop() walk
    for name in set(sys.modules) - at_start:
        mod = sys.modules.get(name)
        if mod is None or name.startswith(ignore) or name.endswith(".six.moves"):
            continue
        try:
            attrs = list(vars(mod).items())
        except TypeError:
            continue
        for attr, value in attrs:
            real = _real_sleep if value is _fake_sleep else reals.get(id(value))
            if real is not None:
                try:
                    setattr(mod, attr, real)
                except (AttributeError, TypeError):
                    continue
    freezer.modules_at_start = set(sys.modules)


def _stop_patches() -> None:
    global _freezer
    from freezegun import api

    for mod, attr in _sleep_patches:
        setattr(mod, attr, _real_sleep)
    _sleep_patches.clear()
    _time.sleep = _real_sleep
    if _orig_should_use_real is not None:
        api._should_use_real_time = _orig_should_use_real
    _restore_new_modules(_freezer, _patch_ignore)
    _freezer.stop()
    _freezer = None


def _acquire(ignore: tuple[str, ...]) -> None:
    global _active, _patch_ignore
    with _state_lock:
        if _active == 0:
            _patch_ignore = ignore
            _start_patches(ignore)
        _active += 1


def _release() -> None:
    global _active
    with _state_lock:
        _active -= 1
        if _active == 0:
            _stop_patches()


class keep_patched:
    """Keep the warp's process-wide patches installed for the whole block, so that the warps
    entered inside it cost no module walk on enter or exit (see "Cost" in the module doc).

        with keep_patched():
            for seed in seeds:
                run_scenario(scenario, seed=seed)     # each run enters its own warp

    `ignore` adds module prefixes that freezegun leaves unpatched (each warp still applies
    its own ignore list). A sweep worker process may enter it and never leave."""

    def __init__(self, ignore: Iterable[str] = ()) -> None:
        self.ignore = tuple(dict.fromkeys([*DEFAULT_IGNORE, *ignore]))
        self._held = 0

    def __enter__(self) -> keep_patched:
        _acquire(self.ignore)
        self._held += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._held:
            self._held -= 1
            _release()


class VirtualTime:
    """An active (or ready) warp. Use as a context manager; see the module docstring.

    `start` is the clock's time when the warp was entered, `slept` the virtual seconds this
    warp's `time.sleep` calls advanced the clock by, `sleeps` how many such calls there were.
    """

    def __init__(self, source: _Source, ignore: Iterable[str] = ()) -> None:
        self.source = source
        self.ignore: tuple[str, ...] = tuple(dict.fromkeys([*DEFAULT_IGNORE, *ignore]))
        self.start = 0.0
        self.slept = 0.0
        self.sleeps = 0
        self._threads: list[int] = []

    def now(self) -> float:
        """The clock's time (virtual seconds since the Unix epoch)."""
        return self.source.now()

    def elapsed(self) -> float:
        """Virtual seconds since the warp was entered (by sleeps, advances, anything)."""
        return self.source.now() - self.start

    def refresh(self) -> None:
        """Re-read a remote clock that someone else may have advanced (no-op in process)."""
        if isinstance(self.source, _RemoteSource):
            self.source.refresh()

    def _sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.slept += seconds
        if seconds > 0:
            try:
                self.source.advance(seconds)
            except VirtualTimeError:
                raise
            except Exception as exc:  # e.g. ClockCapExceeded: a wait that never ends
                raise VirtualTimeError(
                    f"time.sleep({seconds}) could not advance the virtual "
                    f"clock: {type(exc).__name__}: {exc}"
                ) from exc

    def __enter__(self) -> VirtualTime:
        with _state_lock:
            _acquire(self.ignore)
            ident = threading.get_ident()
            _warps.setdefault(ident, []).append(self)
            self._threads.append(ident)
        self.start = self.source.now()
        return self

    def __exit__(self, *exc: Any) -> None:
        with _state_lock:
            ident = self._threads.pop()
            stack = _warps.get(ident, [])
            if self in stack:
                stack.remove(self)
            if not stack:
                _warps.pop(ident, None)
            _release()
        if isinstance(self.source, _RemoteSource):
            self.source.close()


def virtual_time(target: Any, *, ignore: Iterable[str] = ()) -> VirtualTime:
    """Warp the calling thread onto an emulator's clock (an `Emulator`, its `ServerThread`, or
    a bare `Clock`): `time.sleep` advances it, `time.time`/`monotonic`/`perf_counter`/
    `datetime.now` read it. `ignore` adds module prefixes that keep real time."""
    return VirtualTime(_source_for(target), ignore)


def remote_virtual_time(
    base_url: str,
    admin_token: str | None = None,
    *,
    ignore: Iterable[str] = (),
    timeout_s: float = 30.0,
) -> VirtualTime:
    """Like `virtual_time`, for an emulator in another process (`drydock serve`, or a
    `ServerThread` of a parent test): sleeps POST /_drydock/clock/advance, reads use the server
    clock (GET /_drydock/clock, updated after each advance)."""
    return VirtualTime(_RemoteSource(base_url, admin_token, timeout_s), ignore)
