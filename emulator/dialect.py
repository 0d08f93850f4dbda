"""`Dialect`: one service's face on the neutral core (its routes, error format, names, catalog).

The core (`ControlPlane`) knows tenants, jobs, states, capacity, faults, clock and events, and
nothing of any service. A dialect translates one service's wire protocol to core calls and back.
`Emulator(dialects=[...])` mounts each dialect's routers under its `prefix`, renders every error
on the dialect's own paths in its own format, and names its routes `<dialect>.<route>` so an
`HttpFault(route="<dialect>.jobs.get")` addresses exactly one route of one service.

Nothing is registered by import: a dialect is an object handed to one `Emulator`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._suggest import did_you_mean
from .states import JobState

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from starlette.responses import Response

    from .emulator import Emulator
    from .errors import ServiceError
    from .runtime import TrainerRuntime
    from .shapes import CatalogEntries

__all__ = ["Dialect"]


def _same_kind(value: object, default: object) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):  # `1` is no switch, `true` no count
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


class Dialect:
    """Base class of a service dialect. Subclass it; override what the service needs.

    name:     short, lowercase; the prefix of its route names and its job `dialect` tag.
    prefix:   the path prefix its routers are mounted under ("" mounts at the root).
    paths:    path prefixes this dialect owns for error rendering and HTTP faults; defaults to
              (prefix,). A root-mounted dialect must list its paths (e.g. ("/v1/", "/training/")).
    public_tenants: tenants whose catalog entries every caller may read.
    """

    name: str = ""
    prefix: str = ""
    paths: tuple[str, ...] = ()
    public_tenants: frozenset[str] = frozenset()
    #: Event kinds this dialect logs beyond the core's (`deployment.created`, ...): what a
    #: scenario's `expect.events` may name.
    event_kinds: tuple[str, ...] = ()
    #: Settings a user may set by name (`configure`, a scenario's `dialects: {<name>: {...}}`):
    #: attributes of the dialect, each keeping the type of its class default.
    options: tuple[str, ...] = ()

    def configure(self, **values: Any) -> Dialect:
        """Set `options` by name, before the dialect is mounted. An unknown option or a value
        of another type than the option's default is a ValueError that says which."""
        for key, value in values.items():
            if key not in self.options:
                raise ValueError(
                    f"dialect {self.name!r} has no option {key!r}{did_you_mean(key, self.options)}"
                    f"; its options: {', '.join(self.options) or 'none'}"
                )
            default = getattr(type(self), key)
            if default is not None and not _same_kind(value, default):
                raise ValueError(
                    f"option {self.name}.{key} takes a {type(default).__name__}, not {value!r}"
                )
            setattr(self, key, value)
        return self

    # ------------------------------------------------------------------ mounting
    def operation_names(self) -> Sequence[str]:
        """Named operations served outside the emulator's FastAPI app (on a listener of the
        dialect's own, say), as short names like the routes': what an HttpFault may also name
        (`<dialect>.<operation>`); the dialect asks `cp.http_fault` for them itself."""
        return ()

    def routers(self) -> Sequence[APIRouter]:
        """The FastAPI routers of this service, mounted under `prefix`. Route `name=`s are the
        short names (`jobs.get`); the emulator prefixes them with `<dialect>.`."""
        return ()

    def attach(self, emulator: Emulator) -> None:
        """Called when mounted on an emulator, and again after each `Emulator.reset()` (the
        control plane is new then: drop state kept from the old one)."""

    def start_listeners(
        self, emulator: Emulator, host: str, port: int | None, echo: Callable[[str], None]
    ) -> list[Callable[[], None]]:
        """Server mode (`drydock serve`): start any listener this dialect needs beside the main
        one (an endpoint whose paths would collide with other dialects'), announce it with
        `echo`, and return what closes it. `port` is the one asked for (None: the dialect's
        default)."""
        return []

    def owned_paths(self) -> tuple[str, ...]:
        return self.paths or ((self.prefix,) if self.prefix else ())

    def runtime(self) -> TrainerRuntime | None:
        """What runs behind this dialect's RUNNING jobs; None: the emulator's runtime."""
        return None

    # ------------------------------------------------------------------ wire rendering
    def error_response(
        self,
        request: Request | None,
        status: int,
        message: str,
        error: ServiceError | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """An error in this service's wire format. `error` is the core error when there is one
        (None for framework 404/405/400 answers and injected HTTP faults)."""
        from starlette.responses import JSONResponse

        return JSONResponse({"message": message}, status_code=status, headers=headers)

    def wire_state(self, state: JobState) -> str:
        """The service's spelling of a core job state."""
        return state.value

    def resource_name(self, tenant: str, job_id: str) -> str:
        """How this service names a job in messages (e.g. `accounts/a/jobs/j`)."""
        return f"{tenant}/{job_id}"

    # ------------------------------------------------------------------ catalog
    def catalog_entries(self) -> CatalogEntries | None:
        """Models, shapes and capacity pools this service offers by default (merged into the
        emulator's catalog when the user gives none)."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "prefix": self.prefix, "paths": list(self.owned_paths())}
