"""Every `TrainerJobManager` method, written once as a sans-IO generator.

A method's generator yields `("send", _Call)` (expects the httpx.Response back, or an exception
thrown in) and `("sleep", seconds)`; it returns the method's result. The sync manager drives it
with an httpx.Client and `clock.sleep`, the async one with an httpx.AsyncClient and
`await clock.asleep`, so both make the same requests in the same order: the ones fireworks-ai
1.2.28 makes (paths, query order, JSON bodies, poll cadence).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from drydock.wire import fireworks as fw

from ._retry import RetryPolicy
from .clock import SDKClock
from .errors import (
    AccountMismatchError,
    AuthenticationError,
    ConfigValidationError,
    JobDeletedError,
    JobFailedError,
    JobStoppedError,
    JobStuckError,
    NotFoundError,
    PermissionDeniedError,
    WaitTimeoutError,
    api_error_from_response,
    parse_error_message,
)
from .models import (
    RESUMABLE_STATES,
    STOPPED_STATES,
    TOMBSTONE_STATES,
    CheckpointInfo,
    CreatedTrainerJob,
    JobInfo,
    TrainerJobConfig,
    TrainerServiceEndpoint,
    TrainingShapeProfile,
    validate_output_model_id,
)

logger = logging.getLogger("drydock.sdk")

ProgressCallback = Callable[[str, float], None]
Gen = Generator[tuple[str, Any], Any, Any]

POLL_INTERVAL_S = 5.0  # the real SDK's constants
SLOW_POLL_INTERVAL_S = 10.0
READY_TIMEOUT_S = 900.0
RECONNECT_TIMEOUT_S = 600.0
RESUMABLE_WAIT_S = 120.0
PENDING_TIMEOUT_S = 48 * 3600.0
STOPPED_SETTLE_S = 30.0
READ_TIMEOUT_S, WRITE_TIMEOUT_S, LONG_WRITE_TIMEOUT_S = 30.0, 60.0, 300.0


@dataclass
class _Call:
    method: str
    url: str
    headers: dict[str, str]
    timeout: float
    json: Any = None
    extensions: dict[str, Any] = field(default_factory=dict)


class _ManagerCore:
    """State and generators shared by the sync and async managers."""

    _clock: SDKClock
    _retry: RetryPolicy

    def _init_core(
        self,
        api_key: str,
        base_url: str,
        additional_headers: dict[str, str] | None,
        trainer_gateway_url: str | None,
        clock: SDKClock,
        retry: RetryPolicy,
        on_progress: ProgressCallback | None,
        account_id: str | None = None,
    ) -> None:
        import os

        if not api_key:
            raise ValueError("api_key is required")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.additional_headers = additional_headers
        self.trainer_gateway_url = (
            trainer_gateway_url or os.environ.get("FIREWORKS_TRAINER_GATEWAY_URL") or self.base_url
        ).rstrip("/")
        self._clock, self._retry, self._on_progress = clock, retry, on_progress
        if account_id is not None and not isinstance(account_id, str):
            raise TypeError(f"account_id must be a string, got {type(account_id).__name__}")
        self._requested_account_id = account_id.removeprefix("accounts/") if account_id else None
        self._account_id: str | None = None
        self.boot_time_s: float | None = None

    # ------------------------------------------------------------------ plumbing
    def _headers(self, **extra: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Api-Key": self.api_key}
        if self.additional_headers:  # caller headers win, case-insensitively (as in the real SDK)
            names = {n.lower() for n in self.additional_headers}
            headers = {k: v for k, v in headers.items() if k.lower() not in names}
            headers.update(self.additional_headers)
        headers.update(extra)
        return headers

    def _g_request(
        self, method: str, path: str, *, json: Any = None, timeout: float = READ_TIMEOUT_S
    ) -> Gen:
        call = _Call(method, self.base_url + path, self._headers(), timeout, json)
        steps = self._retry.run(self._clock.now)
        try:
            kind, arg = next(steps)
            while True:
                if kind == "send":
                    try:
                        resp = yield ("send", call)
                    except httpx.HTTPError as exc:
                        kind, arg = steps.throw(exc)
                    else:
                        kind, arg = steps.send(resp)
                else:
                    yield ("sleep", arg)
                    kind, arg = steps.send(None)
        except StopIteration as stop:
            return stop.value

    def _g_account_id(self) -> Gen:
        if self._account_id is None:
            resp = yield from self._g_request("GET", "/v1/accounts?pageSize=2")
            if not resp.is_success:
                raise api_error_from_response(resp, "Failed to resolve the account of the API key")
            accounts = (resp.json() or {}).get("accounts") or []
            if not accounts:
                raise ValueError("API key is not associated with any Fireworks account.")
            ids = [str(a.get("name", "")).removeprefix("accounts/") for a in accounts]
            wanted = self._requested_account_id
            if wanted is not None:
                if wanted not in ids:
                    raise AccountMismatchError(
                        f"account_id {wanted!r} does not match the API key's account "
                        f"{', '.join(repr(i) for i in ids)}: pass the key of account {wanted!r}, "
                        "or leave account_id out to use the key's own account",
                        account_id=wanted,
                        key_accounts=ids,
                    )
                self._account_id = wanted
                return wanted
            if len(accounts) > 1:
                raise ValueError(
                    f"API key has access to multiple accounts: {ids}. This is not "
                    "supported for firetitan training."
                )
            name = accounts[0].get("name", "")
            if not name.removeprefix("accounts/"):
                raise ValueError(
                    f"Could not parse account ID from API response. Got account name: '{name}'"
                )
            self._account_id = name.removeprefix("accounts/")
        return self._account_id

    def _progress(self, cb: ProgressCallback | None, state: str, elapsed: float) -> None:
        cb = cb or self._on_progress
        if cb is not None:
            cb(state, elapsed)

    # ------------------------------------------------------------------ jobs
    def _g_job_response(self, job_id: str) -> Gen:
        acct = yield from self._g_account_id()
        return (yield from self._g_request("GET", f"/v1/accounts/{acct}/rlorTrainerJobs/{job_id}"))

    def _g_try_get(self, job_id: str) -> Gen:
        resp = yield from self._g_job_response(job_id)
        if resp.status_code == 404:
            return None
        if not resp.is_success:
            raise api_error_from_response(resp, f"Failed to get RLOR job {job_id}")
        return JobInfo(resp.json())

    def _g_get(self, job_id: str) -> Gen:
        resp = yield from self._g_job_response(job_id)
        if resp.status_code == 404:
            msg = parse_error_message(resp)
            raise NotFoundError(
                f"Trainer job {job_id} was not found in this account: {msg}",
                request=resp.request,
                response=resp,
                server_message=msg,
            )
        if not resp.is_success:
            raise api_error_from_response(resp, f"Failed to get RLOR job {job_id}")
        return JobInfo(resp.json())

    def _g_create(self, config: TrainerJobConfig) -> Gen:
        config.validate()
        acct = yield from self._g_account_id()
        if config.disable_inactivity_cleanup and acct != "fireworks":
            raise ConfigValidationError(
                [
                    "disable_inactivity_cleanup is only supported for "
                    "trainers in the fireworks account"
                ]
            )
        query = config.create_query()  # fixes requested_job_id: a retried create reuses it
        job_id = config.requested_job_id or ""
        resp = yield from self._g_request(
            "POST",
            f"/v1/accounts/{acct}/rlorTrainerJobs?{urlencode(query)}",
            json=config.create_payload(),
            timeout=WRITE_TIMEOUT_S,
        )
        if resp.status_code == 409:
            # Our own earlier attempt may have committed (its answer lost): adopt that job.
            existing = yield from self._g_try_get(job_id)
            if existing is None:
                raise api_error_from_response(resp, "RLOR job creation failed")
            if existing.state in TOMBSTONE_STATES:
                raise JobDeletedError(
                    f"Trainer job {job_id} is archived and cannot be recreated with the same ID; "
                    "use a new requested_job_id",
                    job_id=job_id,
                    state=existing.state,
                    job=existing,
                )
            job = existing
        elif not resp.is_success:
            raise api_error_from_response(resp, "RLOR job creation failed")
        else:
            job = JobInfo(resp.json())
        name = job.name
        return CreatedTrainerJob(job_name=name, job_id=name.split("/")[-1] if "/" in name else name)

    def _g_healthz(self, base_url: str) -> Gen:
        call = _Call(
            "GET",
            f"{base_url}/api/v1/healthz",
            self._headers(Authorization=f"Bearer {self.api_key}"),
            5.0,
        )
        try:
            resp = yield ("send", call)
        except Exception:  # unreachable trainer = not ready yet
            return False
        return resp.status_code == 200

    def _g_wait(
        self,
        job_id: str,
        job_name: str | None,
        poll_interval_s: float,
        timeout_s: float,
        pending_timeout_s: float,
        on_progress: ProgressCallback | None,
    ) -> Gen:
        acct = yield from self._g_account_id()
        job_name = job_name or f"accounts/{acct}/rlorTrainerJobs/{job_id}"
        gateway = f"{self.trainer_gateway_url}/training/v1/rlorTrainerJobs/{acct}/{job_id}"
        start = self._clock.now()
        readiness_deadline: float | None = None
        while True:
            job = yield from self._g_get(job_id)
            state, now = job.state, self._clock.now()
            self._progress(on_progress, state, now - start)
            if state in TOMBSTONE_STATES:
                raise JobDeletedError(
                    f"Trainer job {job_id} is archived and cannot be recreated with the same ID",
                    job_id=job_id,
                    state=state,
                    job=job,
                )
            if state in STOPPED_STATES and now - start >= STOPPED_SETTLE_S:
                raise JobStoppedError(
                    f"Trainer job {job_id} stopped in {state} before it became "
                    f"ready: {job.status_message or 'no status detail'}",
                    job_id=job_id,
                    state=state,
                    job=job,
                )
            if state == "JOB_STATE_FAILED":
                raise JobFailedError(
                    f"Trainer job {job_id} failed: {job.status_message or 'unknown'}",
                    job_id=job_id,
                    state=state,
                    job=job,
                )
            if state == "JOB_STATE_RUNNING" and (yield from self._g_healthz(gateway)):
                self.boot_time_s = now - start
                return TrainerServiceEndpoint(
                    job_name=job_name,
                    job_id=job_id,
                    base_url=gateway,
                    max_context_length=job.max_context_length,
                )
            if state == "JOB_STATE_PENDING":
                if now >= start + pending_timeout_s:
                    raise WaitTimeoutError(
                        f"Trainer job {job_id} remained pending for capacity longer than "
                        f"{pending_timeout_s}s",
                        job_id=job_id,
                        last_state=state,
                        elapsed_s=now - start,
                        job=job,
                    )
            elif readiness_deadline is None:
                readiness_deadline = now + timeout_s
            elif now >= readiness_deadline:
                raise WaitTimeoutError(
                    f"Trainer job {job_id} did not become ready within {timeout_s}s after "
                    f"placement (last state {state or 'unknown'})",
                    job_id=job_id,
                    last_state=state,
                    elapsed_s=now - start,
                    job=job,
                )
            yield ("sleep", poll_interval_s)

    def _g_resume(self, job_id: str) -> Gen:
        acct = yield from self._g_account_id()
        resp = yield from self._g_request(
            "POST", f"/v1/accounts/{acct}/rlorTrainerJobs/{job_id}:resume", timeout=WRITE_TIMEOUT_S
        )
        if not resp.is_success:
            raise api_error_from_response(resp, f"RLOR job resume failed for {job_id}")
        return JobInfo(resp.json())

    def _g_resume_and_wait(
        self,
        job_id: str,
        poll_interval_s: float,
        timeout_s: float,
        pending_timeout_s: float,
        on_progress: ProgressCallback | None,
    ) -> Gen:
        yield from self._g_resume(job_id)
        return (
            yield from self._g_wait(
                job_id, None, poll_interval_s, timeout_s, pending_timeout_s, on_progress
            )
        )

    def _g_reconnect(
        self,
        job_id: str,
        poll_interval_s: float,
        timeout_s: float,
        max_wait_for_resumable_s: float,
        pending_timeout_s: float,
        on_progress: ProgressCallback | None,
    ) -> Gen:
        start = self._clock.now()
        while True:
            try:
                job = yield from self._g_get(job_id)
            except (AuthenticationError, PermissionDeniedError):
                raise  # a bad key does not heal while we wait (the real SDK waits 120 s first)
            except Exception as exc:  # transient while the control plane handles the pod death
                if self._clock.now() - start > max_wait_for_resumable_s:
                    raise
                logger.warning("reconnect: could not read job %s (retrying): %s", job_id, exc)
                yield ("sleep", POLL_INTERVAL_S)
                continue
            state = job.state
            self._progress(on_progress, state, self._clock.now() - start)
            if state == "JOB_STATE_RUNNING":
                return (
                    yield from self._g_wait(
                        job_id, None, poll_interval_s, timeout_s, pending_timeout_s, on_progress
                    )
                )
            if state in RESUMABLE_STATES:
                return (
                    yield from self._g_resume_and_wait(
                        job_id, poll_interval_s, timeout_s, pending_timeout_s, on_progress
                    )
                )
            if self._clock.now() - start > max_wait_for_resumable_s:
                raise JobStuckError(
                    f"Trainer job {job_id} stuck in {state}: no resumable state "
                    f"within {max_wait_for_resumable_s}s",
                    job_id=job_id,
                    state=state,
                    job=job,
                )
            yield ("sleep", SLOW_POLL_INTERVAL_S)

    def _g_delete(self, job_id: str, raise_on_error: bool) -> Gen:
        try:
            acct = yield from self._g_account_id()
            resp = yield from self._g_request(
                "DELETE", f"/v1/accounts/{acct}/rlorTrainerJobs/{job_id}"
            )
            if not resp.is_success:
                raise api_error_from_response(resp, f"Failed to delete RLOR job {job_id}")
        except Exception as exc:
            if raise_on_error:
                raise
            logger.warning("Failed to delete trainer job %s: %s", job_id, exc)

    # ------------------------------------------------------------------ checkpoints, shapes
    def _g_list_checkpoints(self, job_id: str, page_size: int) -> Gen:
        acct = yield from self._g_account_id()
        base = f"/v1/accounts/{acct}/rlorTrainerJobs/{job_id}/checkpoints"
        rows: list[CheckpointInfo] = []
        token: str | None = None
        while True:
            query = {"pageSize": str(page_size), **({"pageToken": token} if token else {})}
            resp = yield from self._g_request("GET", f"{base}?{urlencode(query)}")
            if not resp.is_success:
                raise api_error_from_response(
                    resp, f"Failed to list checkpoints for trainer job '{job_id}'"
                )
            body = resp.json() or {}
            rows.extend(
                CheckpointInfo(r)
                for r in (body.get("checkpoints") or body.get("rlorTrainerJobCheckpoints") or [])
            )
            token = body.get("nextPageToken") or body.get("next_page_token")
            if not token:
                return rows

    def _g_promote(
        self,
        job_id: str | None,
        checkpoint_id: str | None,
        output_model_id: str | None,
        base_model: str | None,
        name: str | None,
        hot_load_deployment_id: str | None,
    ) -> Gen:
        if name is not None:
            if checkpoint_id is not None:
                raise ValueError("pass either name= or checkpoint_id, not both")
            m = fw.CHECKPOINT_NAME_RE.match(name)
            if m is None:
                raise ValueError(
                    f"Invalid checkpoint name {name!r}. Expected 4 segments: "
                    "accounts/<account>/rlorTrainerJobs/<job>/checkpoints/<id>."
                )
            if job_id is not None and job_id != m.group(2):
                raise ValueError(
                    f"job_id={job_id!r} conflicts with name's trainer job {m.group(2)!r}."
                )
            acct, job_id, checkpoint_id = m.groups()
        else:
            if not job_id or not checkpoint_id:
                raise ValueError(
                    "Either name= (4-segment resource path) or both job_id and "
                    "checkpoint_id are required."
                )
            warnings.warn(
                "promote_checkpoint(job_id, checkpoint_id, ...) is deprecated; pass "
                "name=<row['name'] from list_checkpoints>",
                DeprecationWarning,
                stacklevel=4,
            )
            acct = None
        if not output_model_id or not base_model:
            raise ValueError("output_model_id and base_model are required")
        problems = validate_output_model_id(output_model_id)
        if problems:
            raise ConfigValidationError(problems)
        if acct is None:
            acct = yield from self._g_account_id()
        path = f"/v1/accounts/{acct}/checkpoints/{checkpoint_id}:promote"
        promote = fw.PromoteBody(
            output_model=f"accounts/{acct}/models/{output_model_id}",
            trainer_job_id=f"accounts/{acct}/rlorTrainerJobs/{job_id}",
            base_model=base_model,
            hot_load_deployment_id=None
            if hot_load_deployment_id is None
            else f"accounts/{acct}/deployments/{hot_load_deployment_id}",
        )
        body = fw.to_wire(promote)
        resp = yield from self._g_request(
            "POST",
            path,
            json=fw.to_wire(promote.model_copy(update={"async_promotion": True})),
            timeout=LONG_WRITE_TIMEOUT_S,
        )
        if resp.status_code == 400 and "asyncpromotion" in parse_error_message(
            resp
        ).lower().replace("_", ""):
            resp = yield from self._g_request("POST", path, json=body, timeout=LONG_WRITE_TIMEOUT_S)
        if not resp.is_success:
            raise api_error_from_response(resp, f"Failed to promote checkpoint '{checkpoint_id}'")
        result = resp.json()
        op = result.get("operation")
        if not op:
            return result.get("model", {})
        waited = 0.0
        while not op.get("done", False):  # the real SDK polls every 10 s for up to 2 h
            if waited >= 7200:
                raise WaitTimeoutError(
                    f"Operation '{op.get('name')}' did not complete within 7200s",
                    job_id=job_id,
                    last_state="",
                    elapsed_s=waited,
                )
            yield ("sleep", 10.0)
            waited += 10.0
            r = yield from self._g_request("GET", f"/v1/{op['name']}")
            if not r.is_success:
                raise api_error_from_response(r, f"Failed to poll operation '{op['name']}'")
            op = r.json()
        if op.get("error"):
            err = op["error"]
            raise RuntimeError(
                f"Operation '{op.get('name')}' failed: "
                f"{err.get('message') if isinstance(err, dict) else err}"
            )
        model = op.get("response") or result.get("model")
        if not model:
            raise RuntimeError(
                f"Failed to promote checkpoint '{checkpoint_id}': the operation "
                "completed without a model"
            )
        model = dict(model)
        model.pop("@type", None)
        return model

    def _g_resolve_profile(self, training_shape_id: str) -> Gen:
        problem = fw.shape_ref_error(training_shape_id)
        if problem:
            raise ConfigValidationError([problem])
        if "/versions/" in training_shape_id:
            path = f"/v1/{training_shape_id}"
        else:
            path = (
                f"/v1/{training_shape_id}/versions?"
                f"{urlencode({'filter': 'latest_validated=true', 'pageSize': 1})}"
            )
        resp = yield from self._g_request("GET", path)
        if not resp.is_success:
            raise api_error_from_response(
                resp, f"Failed to fetch training shape '{training_shape_id}'"
            )
        data = resp.json()
        if "/versions/" not in training_shape_id:
            versions = data.get("trainingShapeVersions") or []
            if not versions:
                raise RuntimeError(
                    f"Failed to resolve latest validated training shape for "
                    f"'{training_shape_id}': no validated version"
                )
            data = versions[0]
        return TrainingShapeProfile.from_wire(data)

    def _g_model_is_moe(self, model: str) -> Gen:
        resp = yield from self._g_request("GET", f"/v1/{model.lstrip('/')}")
        if not resp.is_success:
            raise api_error_from_response(resp, f"Failed to fetch model details for {model!r}")
        data = resp.json() or {}
        moe = (data.get("baseModelDetails") or data.get("base_model_details") or {}).get("moe")
        if not isinstance(moe, bool):
            raise ValueError(
                f"Base model {model!r} is missing baseModelDetails.moe; cannot "
                "determine Router Replay support."
            )
        return moe
