"""`FireworksEnv`: what the `fireworks_env` fixture hands a test (the real SDK, aimed at drydock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fireworks.training.sdk import TrainerJobManager

__all__ = ["FireworksEnv", "FIREWORKS_ENV_VARS"]

FIREWORKS_ENV_VARS = (
    "FIREWORKS_API_KEY",
    "FIREWORKS_BASE_URL",
    "FIREWORKS_ACCOUNT_ID",
    "FIREWORKS_TRAINER_GATEWAY_URL",
)


@dataclass
class FireworksEnv:
    """Connection details of a drydock server, as the real `fireworks` SDK wants them.

    The fixture has already exported them as `FIREWORKS_*` environment variables (undone after
    the test). `manager()` builds a real `TrainerJobManager`; `TrainerJobManager` does not read
    the base URL or key from the environment, so pass them explicitly as this does.
    """

    base_url: str
    api_key: str
    account_id: str
    gateway_url: str
    emulator: Any = field(repr=False, default=None)
    _managers: list[TrainerJobManager] = field(default_factory=list, repr=False)

    def manager(self, **kwargs: Any) -> TrainerJobManager:
        """A real `fireworks.training.sdk.TrainerJobManager` talking to this drydock server.

        Keyword arguments go to its constructor (e.g. `additional_headers`). Closed for you
        when the test ends."""
        try:
            from fireworks.training.sdk import TrainerJobManager
        except ImportError as exc:  # pragma: no cover - depends on the user's environment
            raise RuntimeError(
                "fireworks_env.manager() needs the real SDK: pip install "
                "'fireworks-ai[training-sdk]'"
            ) from exc
        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("base_url", self.base_url)
        kwargs.setdefault("trainer_gateway_url", self.gateway_url)
        mgr = TrainerJobManager(**kwargs)
        self._managers.append(mgr)
        return mgr

    def close(self) -> None:
        for mgr in self._managers:
            try:
                mgr.close()
            except Exception:  # closing a client must not mask the test's own outcome
                pass
        self._managers.clear()
