"""Hypothesis settings profiles for suites that drive drydock emulators.

Both turn the per-example deadline off: an example that runs a training loop against an
emulator does real HTTP and its wall time varies with the machine, not with the code.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["DEV_PROFILE", "CI_PROFILE", "register_profiles"]

DEV_PROFILE = "drydock-dev"
CI_PROFILE = "drydock-ci"


def register_profiles() -> None:
    """Register "drydock-dev" (quick, random) and "drydock-ci" (thorough, derandomized)."""
    settings.register_profile(
        DEV_PROFILE,
        max_examples=25,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        CI_PROFILE,
        max_examples=200,
        deadline=None,
        derandomize=True,  # the same examples on every CI run: a red build is reproducible
        database=None,  # ...and no state carried between runs
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


register_profiles()
