"""Where a sweep's runs execute: this process, a local process pool, or Ray tasks.

Each backend yields rows as runs finish (in any order), keeps a bounded number of runs in
flight (so `stop()` takes effect quickly and 100,000 seeds cost no 100,000 futures), and on
close leaves nothing running that it started.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any
from urllib.parse import urlparse

from ._sweep_worker import LocalRunner, worker_init, worker_run_seed

__all__ = ["Backend", "InProcess", "LocalPool", "RayBackend", "RayUnavailable"]

Stop = Callable[[], bool]


class RayUnavailable(RuntimeError):
    """Ray is not installed, or no Ray cluster answers at the given address."""


class Backend:
    name = "?"
    workers = 1

    def run(self, task: dict, seeds: Iterable[int], stop: Stop) -> Iterator[dict]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InProcess(Backend):
    """Runs one seed after another in the calling process (`--workers 1`)."""

    name = "in-process"

    def run(self, task: dict, seeds: Iterable[int], stop: Stop) -> Iterator[dict]:
        runner = LocalRunner()
        try:
            for seed in seeds:
                if stop():
                    return
                yield runner(task, seed)
        finally:
            runner.close()


class LocalPool(Backend):
    """A pool of `workers` fresh processes (spawned: no state of the parent leaks into a run)."""

    name = "process pool"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            initializer=worker_init,
            mp_context=multiprocessing.get_context("spawn"),
        )

    def run(self, task: dict, seeds: Iterable[int], stop: Stop) -> Iterator[dict]:
        seeds = iter(seeds)
        pending: set[Future] = set()
        window = 2 * self.workers  # enough to keep every worker busy between our wake-ups
        try:
            while True:
                while len(pending) < window and not stop():
                    seed = next(seeds, None)
                    if seed is None:
                        break
                    pending.add(self._pool.submit(worker_run_seed, task, seed))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=id):
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _probe(address: str, timeout_s: float = 3.0) -> None:
    """Fail fast when nothing listens at a `host:port` / `ray://host:port` address (ray.init
    itself retries for a minute or more before it gives up)."""
    if address in ("auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if not parsed.hostname or not parsed.port:
        raise RayUnavailable(
            f"not a Ray address: {address!r} (expected HOST:PORT, ray://HOST:PORT or auto)"
        )
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=timeout_s).close()
    except OSError as exc:
        raise RayUnavailable(f"no Ray cluster answers at {address}: {exc}") from None


class RayBackend(Backend):
    """Ray tasks: on the cluster at `address`, or on a local Ray started here (`address=None`,
    `workers` CPUs) and stopped on close. An already initialized Ray (ray.init() by the caller)
    is used as it is and left running."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise RayUnavailable("Ray is not installed: pip install 'drydock[ray]'") from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            if address is not None:
                _probe(address)
            try:
                ray.init(
                    address=address,
                    num_cpus=workers if address is None else None,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="error",  # type: ignore[arg-type]  # ray takes level names too
                    configure_logging=False,
                )
            except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
                where = address or "a new local cluster"
                raise RayUnavailable(
                    f"could not connect to Ray at {where}: {str(exc).splitlines()[0]}"
                ) from None
            self._owned = True
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(worker_run_seed)

    def run(self, task: dict, seeds: Iterable[int], stop: Stop) -> Iterator[dict]:
        ray = self._ray
        task_ref = ray.put(task)  # shipped once, not once per seed
        seeds = iter(seeds)
        pending: list[Any] = []
        window = 2 * self.workers
        try:
            while True:
                while len(pending) < window and not stop():
                    seed = next(seeds, None)
                    if seed is None:
                        break
                    pending.append(self._remote.remote(task_ref, seed))
                if not pending:
                    return
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:  # already finished
                    pass

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
            self._owned = False
