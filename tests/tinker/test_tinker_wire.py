"""Tinker wire formatting in the Fireworks dialect: datums -> Examples, answers -> bodies."""

from __future__ import annotations

import pytest

from drydock.emulator.dialects.fireworks.tinker import answer_body, finite_output, sanitize_optim
from drydock.emulator.dialects.fireworks.tinker.datums import make_datum, parse_datums, parse_tensor
from drydock.emulator.errors import InvalidArgument
from drydock.emulator.trainer_port import Array, Example


def test_a_datum_becomes_an_example_with_dense_arrays():
    [ex] = parse_datums([make_datum([5, 6, 7, 8], weights=[1.0, 0.0, 1.0])])
    assert ex == Example([5, 6, 7], {"target_tokens": Array([6, 7, 8], (3,), "int64"),
                                     "weights": Array([1.0, 0.0, 1.0], (3,), "float32")})


def test_plain_lists_are_coerced_by_key_and_csr_is_densified():
    d = {"model_input": {"chunks": [{"type": "encoded_text", "tokens": [1, 2]}]},
         "loss_fn_inputs": {"target_tokens": {"data": [3, 9, 4], "dtype": "int64", "shape": [2, 2],
                                              "sparse_crow_indices": [0, 2, 3],
                                              "sparse_col_indices": [0, 1, 1]},
                            "weights": {"data": [1, 1, 1, 1], "dtype": "float32",
                                        "shape": [2, 2]}}}
    [ex] = parse_datums([d])
    assert ex.inputs["target_tokens"] == Array([3, 9, 0, 4], (2, 2), "int64")
    assert parse_tensor([1, 2], "w", "float32") == Array([1.0, 2.0], (2,), "float32")


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["model_input"]["chunks"].append({"type": "image"}), "only 'encoded_text'"),
    (lambda d: d["loss_fn_inputs"].update(mask=[1]), "unknown keys"),
    (lambda d: d["loss_fn_inputs"]["target_tokens"].update(dtype="int32"), "dtype"),
    (lambda d: d["loss_fn_inputs"]["target_tokens"].update(shape=[5]), "does not match"),
    (lambda d: d["loss_fn_inputs"].update(weights={"data": [1.0, float("nan"), 1.0],
                                                   "dtype": "float32"}), "NaN"),
    (lambda d: d["loss_fn_inputs"].update(weights=[1.0]), "differs from target_tokens"),
    (lambda d: d["loss_fn_inputs"].pop("target_tokens"), "missing"),
    (lambda d: d["model_input"]["chunks"][0]["tokens"].__setitem__(0, True), "list of integers"),
    (lambda d: d["loss_fn_inputs"].update(weights=[1.0, False, 1.0]), "must hold numbers"),
    (lambda d: d["loss_fn_inputs"].update(weights=[1.0, float("-inf"), 1.0]), "NaN or infinity"),
])
def test_bad_datums_are_typed_errors(mutate, match):
    d = make_datum([1, 2, 3, 4])
    mutate(d)
    with pytest.raises(InvalidArgument, match=match):
        parse_datums([d])


def test_answers_take_the_wire_shapes_the_client_expects():
    fwd = {"outputs": [{"logprobs": Array([-1.0, -2.0], (2,), "float32")}],
           "metrics": {"loss:sum": 3.0, "odd": 1.0}}
    assert answer_body("forward_backward", fwd) == {
        "loss_fn_output_type": "ArrayRecord",
        "loss_fn_outputs": [{"logprobs": {"data": [-1.0, -2.0], "dtype": "float32",
                                          "shape": [2]}}],
        "metrics": {"loss:sum": 3.0, "odd:mean": 1.0}}
    bad = {"outputs": [], "metrics": {"loss:sum": float("inf")}}
    assert answer_body("forward", bad)["category"] == "user"
    assert answer_body("optim_step", {"result": {"metrics": {"a:mean": 1, "b:mean": float("nan")}},
                                      "step": 1}) == {"metrics": {"a:mean": 1.0}}
    assert answer_body("save_state", {"name": "c1"}) == {"path": "c1", "type": "save_weights"}
    assert answer_body("save_for_sampler", {"name": "s1"}) == {"path": "s1"}
    assert answer_body("load_state", {}, ref="cross_job://j/c1") == {
        "path": "cross_job://j/c1", "type": "load_weights"}
    assert answer_body("create_model", {}, model_id="model-1-1") == {"model_id": "model-1-1",
                                                                     "comms": "v1"}
    assert answer_body("unload", {}, model_id="m") == {"model_id": "m", "type": "unload_model"}
    assert sanitize_optim(None) == {"metrics": {}}
    assert finite_output({"metrics": {"a:b:c": 1.0}})["metrics"] == {"a_b_c:mean": 1.0}
