"""`Emulator`: one control plane, its clock, its dialects and their HTTP face, in process or
on a socket."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
from fastapi import APIRouter, FastAPI

from ._dashboard import dashboard_router
from ._http import DialectIndex, FaultMiddleware, install_error_handlers, iter_routes
from ._limits import BodyLimitMiddleware, Limits, machine_node_cap
from ._openapi import truthful_openapi
from ._store import Store, StoreMiddleware
from ._suggest import did_you_mean
from .clock import Clock, ScaledClock, VirtualClock
from .control_plane import ControlPlane, Timings
from .control_routes import control_router, install_local_docs
from .dialect import Dialect
from .events import EventLog
from .faults import FaultPlan
from .runtime import TrainerRuntime
from .shapes import ShapeCatalog

if TYPE_CHECKING:
    from .server import ServerThread

__all__ = [
    "Emulator",
    "DEFAULT_ACCOUNT",
    "DEFAULT_API_KEY",
    "configured_dialects",
    "default_dialects",
    "default_catalog",
    "route_names",
    "route_matches",
]

_DIALECTS_PACKAGE = __name__.rsplit(".", 1)[0] + ".dialects"


def default_dialects() -> list[Dialect]:
    """One of every installed dialect, by name: those shipped in `drydock.emulator.dialects`
    (each package exports `DIALECT`, its class) and those other distributions declare under
    the `drydock.dialects` entry-point group. A shipped dialect whose optional client-side
    dependencies are missing is left out."""
    return [cls() for cls in _installed_dialect_classes()]


def configured_dialects(options: Mapping[str, Mapping[str, Any]]) -> list[Dialect]:
    """`default_dialects()` with `options` set, by dialect name: `{"<dialect>": {"<option>":
    value}}` (see each dialect's `Dialect.options`). An unknown dialect or option is a
    ValueError."""
    dialects = default_dialects()
    by_name = {d.name: d for d in dialects}
    for name, values in options.items():
        if name not in by_name:
            raise ValueError(
                f"no dialect {name!r}{did_you_mean(name, by_name)}; installed: {', '.join(by_name)}"
            )
        by_name[name].configure(**values)
    return dialects


@functools.lru_cache(maxsize=1)  # installed packages do not change under a running process
def _installed_dialect_classes() -> tuple[type[Dialect], ...]:
    classes: dict[str, type[Dialect]] = {}
    pkg = importlib.import_module(_DIALECTS_PACKAGE)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{_DIALECTS_PACKAGE}.{info.name}")
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("drydock"):
                raise
            continue
        cls = getattr(module, "DIALECT", None)
        if cls is not None:
            classes[cls.name] = cls
    for ep in entry_points(group="drydock.dialects"):
        cls = ep.load()
        classes.setdefault(cls.name, cls)
    return tuple(classes[name] for name in sorted(classes))


def default_catalog(dialects: Sequence[Dialect] | None = None) -> ShapeCatalog:
    """The models, shapes and capacity pools the dialects offer by default, in one catalog."""
    parts = [d.catalog_entries() for d in (default_dialects() if dialects is None else dialects)]
    return ShapeCatalog.merge(p for p in parts if p is not None)


DEFAULT_ACCOUNT = "drydock"
DEFAULT_API_KEY = "drydock-local-key"


class Emulator:
    """A deterministic fake of the training-job services.

    >>> emu = Emulator(seed=7)                  # virtual clock, in process
    >>> with emu.serve() as server:             # or a real HTTP server on loopback
    ...     print(server.url)
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        clock: Clock | Callable[[], Clock] | None = None,
        catalog: ShapeCatalog | None = None,
        faults: FaultPlan | None = None,
        timings: Timings | None = None,
        runtime: TrainerRuntime | Callable[[], TrainerRuntime] | None = None,
        accounts: dict[str, str] | None = None,
        admin_token: str | None = None,
        data_dir: str | Path | None = None,
        dialects: Sequence[Dialect] | None = None,
        server_mode: bool = False,
        limits: Limits | None = None,
        durable: bool = False,
    ) -> None:
        self.seed = seed
        # A long-running server (`drydock serve`): local trainer processes are capped to what
        # this machine can run.
        self.server_mode = server_mode
        self.limits = limits or Limits()
        self.dialects: list[Dialect] = list(default_dialects() if dialects is None else dialects)
        names = [d.name for d in self.dialects]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"dialects need distinct, non-empty names; got {names}")
        self._clock_factory = clock if callable(clock) and not hasattr(clock, "now") else None
        # not a factory: a clock (or None)
        self._clock_arg = None if self._clock_factory else cast("Clock | None", clock)
        self._catalog = catalog
        self._timings = timings
        self._runtime_arg = runtime
        self.accounts = dict(accounts or {DEFAULT_ACCOUNT: DEFAULT_API_KEY})
        self.admin_token = admin_token
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir:
            self.data_dir = Path(data_dir)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="drydock-")
            self.data_dir = Path(self._tmp.name)
        self._app: FastAPI | None = None
        self._route_names: list[str] | None = None
        # durable (needs data_dir): state lives in DIR/drydock.sqlite3 and survives a restart.
        if durable and not data_dir:
            raise ValueError("durable=True needs a data_dir")
        self.store: Store | None = Store(self.data_dir) if durable else None
        self.restored = 0  # jobs brought back from the store at start
        self.control_plane = self._build(seed)
        if self.store is not None:
            if self.store.empty:
                self.store.sync(self.control_plane)
            else:
                self.restored = self.store.restore(self.control_plane)
                self.store.sync(self.control_plane)
        self._attach_dialects()
        if faults:
            self.inject(faults)

    def _build(self, seed: int) -> ControlPlane:
        if self._clock_factory:
            clock = self._clock_factory()
        elif self._clock_arg is not None:
            clock = self._clock_arg
        else:
            clock = VirtualClock()
        runtime = (
            self._runtime_arg()
            if callable(self._runtime_arg) and not hasattr(self._runtime_arg, "start")
            else cast("TrainerRuntime | None", self._runtime_arg)  # not a factory: a runtime
        )
        catalog = self._catalog if self._catalog is not None else default_catalog(self.dialects)
        runtimes = {d.name: rt for d in self.dialects if (rt := d.runtime()) is not None}
        cp = ControlPlane(
            clock,
            seed=seed,
            catalog=catalog,
            runtime=runtime,
            timings=self._timings,
            data_dir=self.data_dir,
            runtimes=runtimes,
            public_tenants={t for d in self.dialects for t in d.public_tenants},
            resource_namers={d.name: d.resource_name for d in self.dialects},
        )
        if self.server_mode:
            cp.max_nodes = machine_node_cap()
        for account, key in self.accounts.items():
            cp.add_account(account, key)
        return cp

    def _attach_dialects(self) -> None:
        for d in self.dialects:
            d.attach(self)

    # -------------------------------------------------------------- conveniences
    @property
    def clock(self) -> Clock:
        return self.control_plane.clock

    @property
    def events(self) -> EventLog:
        return self.control_plane.events

    @property
    def api_key(self) -> str:
        return next(iter(self.accounts.values()))

    @property
    def account_id(self) -> str:
        return next(iter(self.accounts))

    def advance(self, seconds: float) -> float:
        """Move the clock forward (virtual: firing due events in order)."""
        with self.control_plane.lock:
            return self.clock.advance(seconds)

    def dialect(self, name: str) -> Dialect:
        for d in self.dialects:
            if d.name == name:
                return d
        raise KeyError(
            f"no dialect {name!r} on this emulator; it has {[d.name for d in self.dialects]}"
        )

    def route_names(self) -> list[str]:
        """Every named route of every dialect (`<dialect>.jobs.get`, ...): what an HttpFault's
        `route` may name. Computed once: the dialects are fixed for the emulator's life."""
        if self._route_names is None:
            self._route_names = route_names(self.dialects)
        return list(self._route_names)

    def inject(self, plan: FaultPlan, *, check: bool = True) -> None:
        """Arm a fault plan. A fault that could never fire here (a route name no dialect has,
        an `at_step` trigger with no trainer behind the jobs) is refused with
        `FaultPlanProblems` naming it, unless `check=False` (a test that reports steps itself
        with `control_plane.on_step`)."""
        if check:
            from ._validate import check_for

            check_for(self, plan)
        self.control_plane.inject(plan)

    def reset(self, seed: int | None = None) -> None:
        """Forget every job, fault and event; a fresh clock of the same kind when it was ours."""
        self.control_plane.close()
        self.seed = self.seed if seed is None else seed
        if self._clock_arg is not None and isinstance(self._clock_arg, VirtualClock):
            self._clock_arg = VirtualClock(self._clock_arg.start, self._clock_arg.cap_s)
        elif self._clock_arg is not None and isinstance(self._clock_arg, ScaledClock):
            self._clock_arg = type(self._clock_arg)(
                **({"speed": self._clock_arg.speed} if type(self._clock_arg) is ScaledClock else {})
            )
        self.control_plane = self._build(self.seed)
        self._attach_dialects()
        if self.store is not None:
            self.store.clear()
            self.store.sync(self.control_plane)

    def close(self) -> None:
        self.control_plane.close()
        if self.store is not None:
            self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -------------------------------------------------------------- HTTP
    @property
    def app(self) -> FastAPI:
        """The ASGI app (built once; it always talks to the current control plane)."""
        if self._app is None:
            app = FastAPI(
                title="drydock",
                version="0.1.0",
                description="Local emulator of cloud training-job services",
            )
            app.state.emulator = self
            app.state.admin_token = self.admin_token
            index = DialectIndex(self.dialects)
            install_error_handlers(app, index)
            truthful_openapi(app, index.owner)
            for d in self.dialects:
                for router in d.routers():
                    _qualify(router, d.name)
                    app.include_router(router, prefix=d.prefix)
            app.include_router(control_router())
            app.include_router(dashboard_router())
            install_local_docs(app)  # Swagger UI from packaged files, no CDN
            # FaultMiddleware also binds app.state.control_plane (the current one, after a
            # reset) for the routes; a pure ASGI middleware, since Starlette's
            # @app.middleware("http") cost more per request than the whole route did.
            app.add_middleware(
                FaultMiddleware, control_plane_getter=lambda: self.control_plane, index=index
            )
            if self.store is not None:  # state on disk before any response starts
                app.add_middleware(
                    StoreMiddleware,
                    store=self.store,
                    control_plane_getter=lambda: self.control_plane,
                )
            # Outermost: bounds every body before anything reads it.
            app.add_middleware(BodyLimitMiddleware, index=index, limits=self.limits)
            self._app = app
        return self._app

    def client(self, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """A sync httpx client wired to the app in process (no sockets). Sends the default
        account's API key unless told otherwise. Close it when done."""
        from ._transport import SyncASGITransport

        headers = {"X-Api-Key": api_key or self.api_key, **kwargs.pop("headers", {})}
        return httpx.Client(
            transport=SyncASGITransport(self.app),
            base_url="http://drydock.local",
            headers=headers,
            **kwargs,
        )

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client wired to the app in process (no sockets)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://drydock.local", **kwargs
        )

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ServerThread:
        """Start a real HTTP server in a thread; use as a context manager or call `.stop()`."""
        from .server import ServerThread

        return ServerThread(self, host, port).start()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def route_names(dialects: Sequence[Dialect] | None = None) -> list[str]:
    """The qualified route names of these dialects (default: every installed one), without
    building an emulator."""
    out: set[str] = set()
    for d in default_dialects() if dialects is None else dialects:
        out.update(f"{d.name}.{op}" for op in d.operation_names())
        for router in d.routers():
            names = (getattr(r, "name", None) for r in iter_routes(router.routes))
            out.update(
                f"{d.name}.{name}" if not name.startswith(d.name + ".") else name
                for name in names
                if name
            )
    return sorted(out)


def route_matches(route: str, name: str) -> bool:
    """Does an HttpFault's `route` (qualified, or a short name for every dialect) name `name`?"""
    return route == name or name.endswith("." + route)


def _qualify(router: APIRouter, dialect: str) -> None:
    """Route names become `<dialect>.<name>`: what HTTP faults and the OpenAPI schema use."""
    for route in router.routes:
        name = getattr(route, "name", None)
        if name and not name.startswith(dialect + "."):
            route.name = f"{dialect}.{name}"  # type: ignore[attr-defined]
