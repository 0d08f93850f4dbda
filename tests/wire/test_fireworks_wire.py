"""drydock.wire.fireworks: the rules both sides share, and their agreement with the core."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drydock.emulator.states import RESUMABLE, JobState
from drydock.wire import fireworks as fw


def test_the_resumable_wire_states_are_the_cores_resumable_states():
    assert {fw.job_state_name(s.value) for s in RESUMABLE} == fw.RESUMABLE_STATES
    assert {fw.job_state_name(s.value) for s in JobState} <= fw.JOB_STATES
    assert fw.job_state_name(None) == "JOB_STATE_UNSPECIFIED"


@pytest.mark.parametrize("value, seconds", [("1800s", 1800.0), ("1.5s", 1.5), ("0s", 0.0),
                                            (timedelta(hours=3), 10800.0),
                                            (timedelta(milliseconds=1500), 1.5)])
def test_durations(value, seconds):
    assert fw.duration_seconds(value) == seconds
    assert fw.inactivity_timeout_error(value) is None


@pytest.mark.parametrize("value, problem", [
    ("10801s", "inactivity_timeout must be at most 3 hours"),
    (timedelta(hours=3, seconds=1), "inactivity_timeout must be at most 3 hours"),
    ("-5s", "inactivity_timeout must be non-negative"),
    ("30m", "inactivity_timeout must be a protobuf JSON duration string such as '1800s'"),
    (1800, "inactivity_timeout must be datetime.timedelta or protobuf JSON duration string"),
])
def test_inactivity_timeout_rule(value, problem):
    assert fw.inactivity_timeout_error(value).startswith(problem)
    assert fw.inactivity_timeout_error(value, "inactivityTimeout").startswith(
        problem.replace("inactivity_timeout", "inactivityTimeout", 1)
        if "3 hours" not in problem else problem)


def test_a_body_parses_from_wire_spellings_only():
    body = fw.parse_body(b'{"trainingConfig": {"baseModel": "accounts/a/models/m", '
                         b'"gradientAccumulationSteps": 4}, "displayName": "x"}', fw.CreateJobBody)
    assert body.training_config.gradient_accumulation_steps == 4 and body.display_name == "x"
    assert fw.to_wire(body) == {"serviceMode": True, "keepAlive": False, "dataset": "",
                                "trainingConfig": {"baseModel": "accounts/a/models/m",
                                                   "loraRank": 0, "learningRate": 1e-5,
                                                   "gradientAccumulationSteps": 4},
                                "displayName": "x"}
    with pytest.raises(fw.WireBodyError) as err:
        fw.parse_body(b'{"training_config": {"baseModel": "m"}}', fw.CreateJobBody)
    assert str(err.value) == ('invalid request: missing required field "trainingConfig"; '
                              'unknown field "training_config"')
    with pytest.raises(fw.WireBodyError, match='"trainingConfig.learningRate"'):
        fw.parse_body(b'{"trainingConfig": {"baseModel": "m", "learningRate": 1e400}}',
                      fw.CreateJobBody)


@pytest.mark.parametrize("raw, parsed", [(b"4", 4), (b"4.0", 4), (b"4e0", 4), (b"4.5", None),
                                         (b"true", None), (b'"4"', None)])
def test_integer_fields_take_whole_json_numbers_only(raw, parsed):
    # JSON Schema's "integer" (the OpenAPI schema) includes 4.0; 4.5 and true stay a 400
    wire = b'{"trainingConfig": {"baseModel": "m", "gradientAccumulationSteps": ' + raw + b"}}"
    if parsed is None:
        with pytest.raises(fw.WireBodyError, match="gradientAccumulationSteps"):
            fw.parse_body(wire, fw.CreateJobBody)
    else:
        body = fw.parse_body(wire, fw.CreateJobBody)
        assert body.training_config.gradient_accumulation_steps == parsed
        assert type(body.training_config.gradient_accumulation_steps) is int


def test_problems_name_wire_fields_however_the_body_was_built():
    with pytest.raises(Exception) as by_name:
        fw.CreateJobBody.model_validate({"training_config": {"base_model": "m", "lora_rank": "8"}},
                                        by_name=True)
    assert fw.body_problems(by_name.value, fw.CreateJobBody) == [
        'invalid value for "trainingConfig.loraRank": Input should be a valid integer']


def test_gradient_accumulation_rule():
    assert fw.gradient_accumulation_steps_error(None) is None
    assert fw.gradient_accumulation_steps_error(4) is None
    assert fw.gradient_accumulation_steps_error(0) == "gradient_accumulation_steps must be >= 1, got 0"
    assert fw.gradient_accumulation_steps_error(True) is not None
