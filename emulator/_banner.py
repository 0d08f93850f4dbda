"""What `drydock serve` prints when it is up: where, who, which clock, where the docs are."""

from __future__ import annotations

__all__ = ["serve_banner"]


def serve_banner(
    url: str, *, account: str, api_key: str, speed: float, admin_token: str | None = None
) -> list[str]:
    """The lines of the serve banner. The first three (URL, account, key) are stable: scripts
    read them. The clock line says how fast waits are and how to make them instant."""
    if speed == 1:
        clock = (
            "clock: wall time (1x): a 30 s provisioning wait takes 30 s; --speed 60 runs "
            "60x, and a Python client's own sleeps skip ahead under "
            f"drydock.testing.remote_virtual_time({url!r})"
        )
    else:
        clock = (
            f"clock: scaled, {speed:g}x wall time (1 wall s = {speed:g} virtual s); "
            f"instant waits: drydock.testing.remote_virtual_time({url!r})"
        )
    lines = [
        f"drydock listening on {url}",
        f"account: {account}",
        f"api key: {api_key}",
        clock,
        f"docs: {url}/docs (Swagger UI, offline); test-only control API under "
        f"{url}/_drydock" + (" (needs X-Drydock-Admin-Token)" if admin_token else ""),
    ]
    return lines
