"""`TrainerJobManager` (sync) and `AsyncTrainerJobManager`: fireworks-ai's documented API.

Drop-in for `fireworks.training.sdk.TrainerJobManager` (same methods, parameters, defaults,
return types and HTTP requests), plus: typed errors (drydock.sdk.errors), retries that honour
`Retry-After`, an injectable clock and transport, `on_progress(state, elapsed_s)` callbacks while
waiting, and `for_emulator(emu)` to run in process against a drydock emulator in virtual time.

    mgr = TrainerJobManager.for_emulator(emu)          # or TrainerJobManager(api_key, base_url=...)
    ep = mgr.create_and_wait(TrainerJobConfig(base_model="accounts/fireworks/models/qwen3-8b"))
"""

from __future__ import annotations

import ipaddress
from collections.abc import Generator
from typing import Any
from urllib.parse import urlparse

import httpx

from ._ops import (
    PENDING_TIMEOUT_S,
    POLL_INTERVAL_S,
    READY_TIMEOUT_S,
    RECONNECT_TIMEOUT_S,
    RESUMABLE_WAIT_S,
    ProgressCallback,
    _Call,
    _ManagerCore,
)
from ._retry import RetryPolicy
from .clock import EmulatorClock, SDKClock, SystemClock
from .models import (
    CheckpointInfo,
    CreatedTrainerJob,
    JobInfo,
    TrainerJobConfig,
    TrainerServiceEndpoint,
    TrainingShapeProfile,
    validate_output_model_id,
)

__all__ = ["TrainerJobManager", "AsyncTrainerJobManager"]

_EMULATOR_URL = "http://drydock.local"


def _verify_default(url: str) -> bool:
    """Verify TLS only for https on a host name (the real SDK's rule)."""
    parsed = urlparse(url)
    if parsed.scheme != "https":
        return False
    try:
        ipaddress.ip_address(parsed.hostname or "")
        return False
    except ValueError:
        return True


def _check_kwargs(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kwargs))}")


class TrainerJobManager(_ManagerCore):
    """Lifecycle of service-mode trainer jobs ("RLOR trainer jobs") over the control plane.

    `account_id` (keyword, optional; seed 000's documented constructor): the account to work
    in, checked against the API key's on first use (AccountMismatchError when the key does not
    belong to it); omitted, it is resolved from the key. fireworks-ai 1.2.28 refuses the
    argument (docs/sdk.md).

    Args beyond the real SDK's (all keyword-only): `clock` (where waits sleep and read time;
    default real time), `retry` (a RetryPolicy; `RetryPolicy(instant=True)` in tests on a real
    clock), `on_progress` (default progress callback for every wait), `http` (an httpx.Client
    to send through, e.g. one over an in-process transport).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.fireworks.ai",
        additional_headers: dict[str, str] | None = None,
        verify_ssl: bool | None = None,
        trainer_gateway_url: str | None = None,
        *,
        clock: SDKClock | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressCallback | None = None,
        http: httpx.Client | None = None,
        account_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_kwargs(kwargs)
        self._init_core(
            api_key,
            base_url,
            additional_headers,
            trainer_gateway_url,
            clock or SystemClock(),
            retry or RetryPolicy(),
            on_progress,
            account_id,
        )
        verify = verify_ssl if verify_ssl is not None else _verify_default(base_url)
        self._http = http or httpx.Client(verify=verify, timeout=httpx.Timeout(60.0))

    @classmethod
    def for_emulator(
        cls, emulator: Any, *, api_key: str | None = None, **kwargs: Any
    ) -> TrainerJobManager:
        """A manager wired to an in-process emulator: no sockets, and its waits advance the
        emulator's virtual clock instead of sleeping."""
        key = api_key or emulator.api_key
        kwargs.setdefault("clock", EmulatorClock(emulator))
        return cls(key, base_url=_EMULATOR_URL, http=emulator.client(api_key=key), **kwargs)

    # ------------------------------------------------------------------ driver
    def _send(self, call: _Call) -> httpx.Response:
        return self._http.request(
            call.method, call.url, headers=call.headers, json=call.json, timeout=call.timeout
        )

    def _run(self, gen: Generator[tuple[str, Any], Any, Any]) -> Any:
        try:
            kind, arg = next(gen)
            while True:
                if kind == "sleep":
                    self._clock.sleep(arg)
                    kind, arg = gen.send(None)
                    continue
                try:
                    resp = self._send(arg)
                except Exception as exc:  # handed to the generator: it retries or re-raises
                    kind, arg = gen.throw(exc)
                else:
                    kind, arg = gen.send(resp)
        except StopIteration as stop:
            return stop.value

    # ------------------------------------------------------------------ API
    @property
    def account_id(self) -> str:
        """The account of the API key, resolved on first use (`GET /v1/accounts?pageSize=2`) and
        checked against the constructor's `account_id` when one was given."""
        return self._run(self._g_account_id())

    def create(self, config: TrainerJobConfig) -> CreatedTrainerJob:
        """Create a service-mode trainer job and return at once. Retry-safe: the job id is
        generated client-side and kept in `config.requested_job_id`; a 409 adopts the job."""
        return self._run(self._g_create(config))

    def wait_for_ready(
        self,
        job_id: str,
        job_name: str | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        """Poll until the job is RUNNING and its healthz answers 200."""
        return self._run(
            self._g_wait(
                job_id, job_name, poll_interval_s, timeout_s, pending_timeout_s, on_progress
            )
        )

    def create_and_wait(
        self,
        config: TrainerJobConfig,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        created = self.create(config)
        return self.wait_for_ready(
            created.job_id,
            created.job_name,
            poll_interval_s,
            timeout_s,
            pending_timeout_s,
            on_progress=on_progress,
        )

    def wait_for_existing(
        self,
        job_id: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        return self.wait_for_ready(
            job_id, None, poll_interval_s, timeout_s, pending_timeout_s, on_progress=on_progress
        )

    def resume_and_wait(
        self,
        job_id: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        """POST `:resume` (failed/cancelled/paused/completed job), then wait until ready."""
        return self._run(
            self._g_resume_and_wait(
                job_id, poll_interval_s, timeout_s, pending_timeout_s, on_progress
            )
        )

    def reconnect_and_wait(
        self,
        job_id: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = RECONNECT_TIMEOUT_S,
        max_wait_for_resumable_s: float = RESUMABLE_WAIT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        """After a preemption: wait (≤ max_wait_for_resumable_s) for a resumable state, resume,
        and wait until ready. A RUNNING job is just waited on."""
        return self._run(
            self._g_reconnect(
                job_id,
                poll_interval_s,
                timeout_s,
                max_wait_for_resumable_s,
                pending_timeout_s,
                on_progress,
            )
        )

    def get(self, job_id: str) -> JobInfo:
        """The job payload (a dict). 404 -> NotFoundError (a RuntimeError)."""
        return self._run(self._g_get(job_id))

    def try_get(self, job_id: str) -> JobInfo | None:
        """The job payload, or None when there is no such job."""
        return self._run(self._g_try_get(job_id))

    def delete(self, job_id: str, *, raise_on_error: bool = False) -> None:
        """Delete the job (it becomes a tombstone). Like the real SDK, errors are logged and
        swallowed unless `raise_on_error=True`."""
        self._run(self._g_delete(job_id, raise_on_error))

    def list_checkpoints(self, job_id: str, *, page_size: int = 200) -> list[CheckpointInfo]:
        """Control-plane checkpoint rows, oldest first (works for jobs in any state)."""
        return self._run(self._g_list_checkpoints(job_id, page_size))

    def promote_checkpoint(
        self,
        job_id: str | None = None,
        checkpoint_id: str | None = None,
        output_model_id: str | None = None,
        base_model: str | None = None,
        *,
        name: str | None = None,
        hot_load_deployment_id: str | None = None,
    ) -> dict:
        """Promote a sampler checkpoint to a model; returns the model dict."""
        return self._run(
            self._g_promote(
                job_id, checkpoint_id, output_model_id, base_model, name, hot_load_deployment_id
            )
        )

    validate_output_model_id = staticmethod(validate_output_model_id)

    def resolve_training_profile(
        self, training_shape_id: str, **_kwargs: Any
    ) -> TrainingShapeProfile:
        return self._run(self._g_resolve_profile(training_shape_id))

    def model_is_moe(self, model: str) -> bool:
        return self._run(self._g_model_is_moe(model))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TrainerJobManager:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncTrainerJobManager(_ManagerCore):
    """The async twin of `TrainerJobManager`: same methods, awaited; same requests."""

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.fireworks.ai",
        additional_headers: dict[str, str] | None = None,
        verify_ssl: bool | None = None,
        trainer_gateway_url: str | None = None,
        *,
        clock: SDKClock | None = None,
        retry: RetryPolicy | None = None,
        on_progress: ProgressCallback | None = None,
        http: httpx.AsyncClient | None = None,
        account_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_kwargs(kwargs)
        self._init_core(
            api_key,
            base_url,
            additional_headers,
            trainer_gateway_url,
            clock or SystemClock(),
            retry or RetryPolicy(),
            on_progress,
            account_id,
        )
        verify = verify_ssl if verify_ssl is not None else _verify_default(base_url)
        self._http = http or httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(60.0))

    @classmethod
    def for_emulator(
        cls, emulator: Any, *, api_key: str | None = None, **kwargs: Any
    ) -> AsyncTrainerJobManager:
        kwargs.setdefault("clock", EmulatorClock(emulator))
        return cls(
            api_key or emulator.api_key,
            base_url=_EMULATOR_URL,
            http=emulator.async_client(),
            **kwargs,
        )

    async def _run(self, gen: Generator[tuple[str, Any], Any, Any]) -> Any:
        try:
            kind, arg = next(gen)
            while True:
                if kind == "sleep":
                    await self._clock.asleep(arg)
                    kind, arg = gen.send(None)
                    continue
                try:
                    resp = await self._http.request(
                        arg.method, arg.url, headers=arg.headers, json=arg.json, timeout=arg.timeout
                    )
                except Exception as exc:
                    kind, arg = gen.throw(exc)
                else:
                    kind, arg = gen.send(resp)
        except StopIteration as stop:
            return stop.value

    async def resolve_account_id(self) -> str:
        return await self._run(self._g_account_id())

    async def create(self, config: TrainerJobConfig) -> CreatedTrainerJob:
        return await self._run(self._g_create(config))

    async def wait_for_ready(
        self,
        job_id: str,
        job_name: str | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        return await self._run(
            self._g_wait(
                job_id, job_name, poll_interval_s, timeout_s, pending_timeout_s, on_progress
            )
        )

    async def create_and_wait(
        self,
        config: TrainerJobConfig,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        created = await self.create(config)
        return await self.wait_for_ready(
            created.job_id,
            created.job_name,
            poll_interval_s,
            timeout_s,
            pending_timeout_s,
            on_progress=on_progress,
        )

    async def wait_for_existing(
        self,
        job_id: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        return await self.wait_for_ready(
            job_id, None, poll_interval_s, timeout_s, pending_timeout_s, on_progress=on_progress
        )

    async def resume_and_wait(
        self,
        job_id: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = READY_TIMEOUT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        return await self._run(
            self._g_resume_and_wait(
                job_id, poll_interval_s, timeout_s, pending_timeout_s, on_progress
            )
        )

    async def reconnect_and_wait(
        self,
        job_id: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = RECONNECT_TIMEOUT_S,
        max_wait_for_resumable_s: float = RESUMABLE_WAIT_S,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TrainerServiceEndpoint:
        return await self._run(
            self._g_reconnect(
                job_id,
                poll_interval_s,
                timeout_s,
                max_wait_for_resumable_s,
                pending_timeout_s,
                on_progress,
            )
        )

    async def get(self, job_id: str) -> JobInfo:
        return await self._run(self._g_get(job_id))

    async def try_get(self, job_id: str) -> JobInfo | None:
        return await self._run(self._g_try_get(job_id))

    async def delete(self, job_id: str, *, raise_on_error: bool = False) -> None:
        await self._run(self._g_delete(job_id, raise_on_error))

    async def list_checkpoints(self, job_id: str, *, page_size: int = 200) -> list[CheckpointInfo]:
        return await self._run(self._g_list_checkpoints(job_id, page_size))

    async def promote_checkpoint(
        self,
        job_id: str | None = None,
        checkpoint_id: str | None = None,
        output_model_id: str | None = None,
        base_model: str | None = None,
        *,
        name: str | None = None,
        hot_load_deployment_id: str | None = None,
    ) -> dict:
        return await self._run(
            self._g_promote(
                job_id, checkpoint_id, output_model_id, base_model, name, hot_load_deployment_id
            )
        )

    validate_output_model_id = staticmethod(validate_output_model_id)

    async def resolve_training_profile(
        self, training_shape_id: str, **_kwargs: Any
    ) -> TrainingShapeProfile:
        return await self._run(self._g_resolve_profile(training_shape_id))

    async def model_is_moe(self, model: str) -> bool:
        return await self._run(self._g_model_is_moe(model))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTrainerJobManager:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
