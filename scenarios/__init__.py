"""drydock.scenarios: seeded fault scenarios (YAML), a library of built-ins, the runner, reports,
and the `drydock` command line.

    from drydock.scenarios import load_builtin, run_scenario
    result = run_scenario(load_builtin("preempt-mid-step"))
    assert result.passed, result.failures
"""

from .errors import (
    ReplayMismatch,
    ScenarioError,
    ScenarioFileError,
    ScenarioProblem,
    UnknownScenario,
    WorkloadGaveUp,
)
from .expectations import Check, JobSummary
from .library import LIBRARY_DIR, builtin_names, builtin_path, load_builtin, resolve_scenario
from .report import TimelinePlot, plot_timeline, write_outputs
from .runner import RunResult, replay_log, run_scenario, scenario_from_log
from .spec import (
    CatalogSpec,
    ClockSpec,
    EventExpect,
    Expectations,
    JobDecl,
    JobExpect,
    Scenario,
    WorkloadSpec,
    load_scenario,
    parse_scenario,
    validate_scenario_data,
)
from .workloads import (
    WorkloadContext,
    WorkloadEvents,
    WorkloadInfo,
    get_workload,
    register_workload,
    workload,
    workload_names,
)

__all__ = [
    "Scenario",
    "ClockSpec",
    "CatalogSpec",
    "JobDecl",
    "WorkloadSpec",
    "Expectations",
    "JobExpect",
    "EventExpect",
    "load_scenario",
    "parse_scenario",
    "validate_scenario_data",
    "LIBRARY_DIR",
    "builtin_names",
    "builtin_path",
    "load_builtin",
    "resolve_scenario",
    "RunResult",
    "run_scenario",
    "replay_log",
    "scenario_from_log",
    "Check",
    "JobSummary",
    "TimelinePlot",
    "plot_timeline",
    "write_outputs",
    "WorkloadContext",
    "WorkloadEvents",
    "WorkloadInfo",
    "workload",
    "register_workload",
    "get_workload",
    "workload_names",
    "ScenarioError",
    "ScenarioFileError",
    "ScenarioProblem",
    "UnknownScenario",
    "WorkloadGaveUp",
    "ReplayMismatch",
]
