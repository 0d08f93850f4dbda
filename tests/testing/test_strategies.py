"""Property tests of drydock.testing.strategies: what they generate is valid where it should be,
invalid where it should be, round-trips, and shrinks toward the simplest case."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from drydock.emulator import DEFAULT_ACCOUNT, Emulator, FaultPlan, HttpFault, Preempt, Timings
from drydock.testing.strategies import (
    CI_PROFILE,
    DEV_PROFILE,
    FAULT_KINDS,
    fault_plans,
    fault_strategy_for,
    faults,
    invalid_trainer_job_configs,
    shape_catalogs,
    trainer_job_config_kwargs,
    trainer_job_configs,
)

fw = pytest.importorskip("fireworks.training.sdk")
from fireworks.training.sdk.errors import TrainingAPIError  # noqa: E402

QUICK = settings(max_examples=40, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
TIME_FIELDS = ("at_s", "after_running_s", "from_s")


# ---------------------------------------------------------------- fault plans
@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=0) as e:
        yield e


@QUICK
@given(plan=fault_plans(max_faults=4))
def test_every_plan_validates_round_trips_and_arms(emu, plan):
    assert FaultPlan.model_validate_json(plan.model_dump_json()) == plan
    assert FaultPlan.model_validate(json.loads(plan.model_dump_json())) == plan
    assert FaultPlan.from_yaml(yaml.safe_dump(plan.model_dump(mode="json"))) == plan
    emu.reset()
    emu.inject(plan, check=False)  # arms every generated fault (no trainer here: at_step too)
    assert len(emu.events.filter("fault.injected")) == len(plan.faults)
    emu.advance(4 * 3600)  # and firing them (with no jobs around) breaks nothing


@QUICK
@given(data=st.data(), kind=st.sampled_from(FAULT_KINDS))
def test_each_kind_has_a_strategy(data, kind):
    assert data.draw(fault_strategy_for(kind)).kind == kind


@QUICK
@given(plan=fault_plans(max_faults=2, kinds=["preempt", "http", "cancel"], jobs=["a", "b"],
                        max_time_s=100))
def test_plans_respect_their_bounds(plan):
    assert len(plan.faults) <= 2
    for f in plan.faults:
        assert f.kind in ("preempt", "http", "cancel")
        assert getattr(f, "job", "a") in ("a", "b")
        for name in TIME_FIELDS:
            value = getattr(f, name, None)
            assert value is None or 0 <= value <= 100


def _ends(f) -> list[float]:
    """Every moment a fault still acts at (start, window end, hold end...)."""
    out = [getattr(f, n) for n in ("at_s", "after_running_s", "from_s", "until_s")
           if getattr(f, n, None) is not None]
    if getattr(f, "duration_s", None):
        out.append(f.at_s + f.duration_s)
    for n in ("seconds", "hold_s", "period_s", "after_s"):
        if getattr(f, n, None):
            out.append(getattr(f, n))
    return out


@QUICK
@given(plan=fault_plans(max_faults=4, run_s=120, steps=6))
def test_plans_are_bounded_by_the_run_they_target(plan):
    for f in plan.faults:
        assert all(0 <= t <= 120 for t in _ends(f)), f
        for n in ("at_s", "from_s"):
            assert getattr(f, n, None) is None or getattr(f, n) < 120, f  # starts while it runs
        assert getattr(f, "at_step", None) is None or 1 <= f.at_step <= 6, f
        assert getattr(f, "nth", None) is None or f.nth <= 6, f


def test_every_kind_is_reachable_within_a_short_run():
    quiet = settings(database=None, derandomize=True, max_examples=300)
    for kind in FAULT_KINDS:
        f = find(fault_strategy_for(kind, run_s=10, steps=2), lambda f: True, settings=quiet)
        assert f.kind == kind and all(t <= 10 for t in _ends(f))


def test_plans_shrink_to_the_simplest_fault():
    quiet = settings(database=None, derandomize=True)  # the same search every run
    assert find(fault_plans(), lambda p: len(p.faults) >= 1, settings=quiet) == \
        FaultPlan.of(Preempt(at_s=0.0))
    two = find(fault_plans(kinds=["preempt"]), lambda p: len(p.faults) >= 2, settings=quiet)
    assert two == FaultPlan.of(Preempt(at_s=0.0), Preempt(at_s=0.0))
    http = find(fault_plans(), lambda p: any(isinstance(f, HttpFault) for f in p.faults),
                settings=quiet)
    assert http == FaultPlan.of(HttpFault(route="jobs.get", status=503, count=1))
    late = find(faults(kinds=["preempt"]), lambda f: (f.at_s or 0) >= 90, settings=quiet)
    assert late == Preempt(at_s=90.0)  # times shrink to the boundary that still fails


@pytest.mark.parametrize("call, message", [
    (lambda: fault_plans(max_faults=-1), "min_faults <= max_faults"),
    (lambda: fault_plans(min_faults=3, max_faults=2), "min_faults <= max_faults"),
    (lambda: fault_plans(kinds=["meteor"]), "unknown fault kind"),
    (lambda: faults(kinds=[]), "at least one"),
    (lambda: faults(max_time_s=0), "max_time_s"),
    (lambda: faults(jobs="job-1"), "jobs must be"),
    (lambda: fault_strategy_for("preempt", max_step=-1), "max_step"),
    (lambda: fault_plans(run_s=100, max_time_s=50), "not both"),
    (lambda: fault_plans(steps=3, max_step=5), "not both"),
    (lambda: faults(run_s=1), "run_s must be >= 2"),
    (lambda: faults(steps=-1), "steps must be >= 0"),
])
def test_bad_bounds_are_rejected_up_front(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_settings_profiles_are_registered():
    dev, ci = settings.get_profile(DEV_PROFILE), settings.get_profile(CI_PROFILE)
    assert dev.deadline is None and ci.deadline is None
    assert ci.derandomize and ci.database is None and ci.max_examples > dev.max_examples


# ---------------------------------------------------------------- job configs, real SDK
@pytest.fixture(scope="module")
def sdk():
    with Emulator(seed=0) as e, e.serve() as server:
        mgr = fw.TrainerJobManager(api_key=e.api_key, base_url=server.url,
                                   trainer_gateway_url=server.url)
        yield e, mgr
        mgr.close()


@QUICK
@given(kwargs=trainer_job_config_kwargs())
def test_every_generated_config_is_accepted_and_runs(sdk, kwargs):
    emu, mgr = sdk
    emu.reset()
    config = fw.TrainerJobConfig(**kwargs)
    created = mgr.create(config)
    job = emu.control_plane.get_job(DEFAULT_ACCOUNT, created.job_id)
    assert job.spec.base_model == kwargs["base_model"]
    assert job.spec.lora_rank == kwargs["lora_rank"]
    if "training_shape_ref" in kwargs:
        assert job.shape_version_name.startswith(kwargs["training_shape_ref"])
    emu.advance(Timings().provision_s)  # it fits its pool: it starts, not queues
    assert job.state.value == "RUNNING", emu.events.to_jsonl()


@QUICK
@given(config=invalid_trainer_job_configs(stage="client"))
def test_client_invalid_configs_never_reach_the_server(sdk, config):
    emu, mgr = sdk
    emu.reset()
    with pytest.raises(ValueError):
        mgr.create(config)
    assert emu.control_plane.jobs == {}


@QUICK
@given(config=invalid_trainer_job_configs(stage="server"))
def test_server_invalid_configs_are_refused_by_the_emulator(sdk, config):
    emu, mgr = sdk
    emu.reset()
    with pytest.raises(TrainingAPIError) as refused:
        mgr.create(config)
    assert refused.value.status_code in (400, 404), refused.value
    assert emu.control_plane.jobs == {}


@QUICK
@given(kwargs=trainer_job_config_kwargs())
def test_configs_also_fit_drydocks_own_sdk(kwargs):
    sdk_models = pytest.importorskip("drydock.sdk.models")
    cls = sdk_models.TrainerJobConfig
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
    if fields is not None and not set(kwargs) <= fields:
        pytest.skip("drydock.sdk.TrainerJobConfig lacks some of the real SDK's fields")
    assert cls(**kwargs).problems() == []


def _simplest(strategy):
    """The example hypothesis tries first: the one every failure shrinks toward."""
    seen = []

    @settings(max_examples=1, database=None, phases=[Phase.generate])
    @given(strategy)
    def record(value):
        seen.append(value)

    record()
    return seen[0]


def test_configs_are_objects_or_dicts_and_shrink_to_defaults():
    assert isinstance(_simplest(trainer_job_configs()), fw.TrainerJobConfig)
    simplest = {"base_model": "accounts/fireworks/models/qwen3-8b", "lora_rank": 0,
                "learning_rate": 1e-5}
    assert _simplest(trainer_job_configs(config_class=dict)) == simplest
    named_lora = find(trainer_job_config_kwargs(paths=["manual"]),
                      lambda c: c["lora_rank"] > 0 and "display_name" in c,
                      settings=settings(database=None))
    assert named_lora == {**simplest, "lora_rank": 8, "display_name": "0"}


# ---------------------------------------------------------------- shape catalogs
@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_catalogs_run_their_configs(data):
    catalog = data.draw(shape_catalogs())
    names = {m.name for m in catalog.models}
    assert all(s.base_model in names for s in catalog.training_shapes)
    kwargs = data.draw(trainer_job_config_kwargs(catalog))
    with Emulator(seed=0, catalog=catalog) as emu, emu.serve() as server:
        mgr = fw.TrainerJobManager(api_key=emu.api_key, base_url=server.url)
        try:
            created = mgr.create(fw.TrainerJobConfig(**kwargs))
        finally:
            mgr.close()
        emu.advance(Timings().provision_s)
        job = emu.control_plane.get_job(DEFAULT_ACCOUNT, created.job_id)
        assert job.state.value == "RUNNING", emu.events.to_jsonl()


@QUICK
@given(kwargs=invalid_trainer_job_configs(stage="client", config_class=dict))
def test_client_invalid_configs_are_caught_by_drydocks_own_sdk_too(kwargs):
    sdk_models = pytest.importorskip("drydock.sdk.models")
    assert sdk_models.TrainerJobConfig(**kwargs).problems() != []


@given(plan=fault_plans(max_faults=4, steps=0))
@settings(max_examples=60, deadline=None)
def test_a_run_without_steps_gets_no_step_triggered_faults(plan):
    # steps=0 (no trainer): nothing that waits for a training step or a checkpoint write
    assert all(getattr(f, "at_step", None) is None for f in plan.faults)
    assert not any(f.kind == "checkpoint_write_failure" for f in plan.faults)
    Emulator(seed=0).inject(plan)  # so the emulator's own check accepts every such plan
