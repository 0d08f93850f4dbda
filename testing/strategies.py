"""Hypothesis strategies for your own test suite: fault plans, job configs, shape catalogs.

    from hypothesis import given
    from drydock.testing.strategies import fault_plans, trainer_job_configs

    @given(plan=fault_plans(max_faults=2, run_s=3600, steps=20), config=trainer_job_configs())
    def test_my_loop_survives(plan, config): ...

Bound fault plans by the run they target (`run_s`, `steps`): a fault after the run ends tests
nothing. Importing this module registers two settings profiles, "drydock-dev" (25 examples, no
deadline) and "drydock-ci" (200 examples, derandomized, no database). Load one for a whole run
with `pytest --hypothesis-profile=drydock-ci`, or in a conftest.py with
`settings.load_profile("drydock-ci")`; don't pass one as a `@settings` parent, which would
override the profile chosen on the command line. See docs/testing.md for the fuzzing recipe.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
except ModuleNotFoundError as exc:  # an extra, not a dependency of drydock
    raise ModuleNotFoundError(
        "drydock.testing.strategies needs hypothesis: pip install 'drydock-emulator[testing]'",
        name=exc.name,
    ) from None

from ._catalog_st import ACCELERATOR_TYPES, REGIONS, shape_catalogs
from ._configs_st import (
    LAUNCH_PATHS,
    default_config_class,
    invalid_trainer_job_configs,
    trainer_job_config_kwargs,
    trainer_job_configs,
)
from ._faults_st import FAULT_KINDS, HTTP_ROUTES, fault_plans, fault_strategy_for, faults
from ._profiles import CI_PROFILE, DEV_PROFILE, register_profiles

__all__ = [
    "fault_plans",
    "faults",
    "fault_strategy_for",
    "FAULT_KINDS",
    "HTTP_ROUTES",
    "trainer_job_configs",
    "trainer_job_config_kwargs",
    "invalid_trainer_job_configs",
    "default_config_class",
    "LAUNCH_PATHS",
    "shape_catalogs",
    "ACCELERATOR_TYPES",
    "REGIONS",
    "DEV_PROFILE",
    "CI_PROFILE",
    "register_profiles",
]
