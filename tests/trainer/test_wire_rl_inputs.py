"""What RL programs send and the real service accepts: `loss_fn_inputs.loss_mask` and `weights`
as int64 (a client turns a list of ints into int64 TensorData). Both become float32; the mask
zeroes the loss (and the loss-token count) at masked positions."""

from __future__ import annotations

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, TrainerUserError, make_datum
from drydock.trainer._wire import parse_datums, parse_tensor

CFG = LocalModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_seq_len=16)
TOKS = [3, 1, 4, 1, 5, 9, 2, 6]


def _td(values, dtype):
    return {"data": list(values), "dtype": dtype, "shape": [len(values)]}


def _datum(**inputs):
    d = make_datum(TOKS)
    d["loss_fn_inputs"].update(inputs)
    return d


@pytest.fixture()
def eng(tmp_path):
    return TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu")


def test_int64_weights_convert_to_float32() -> None:
    t = parse_tensor(_td([1, 0, 2], "int64"), "data[0].loss_fn_inputs.weights", "float32")
    assert t.dtype == torch.float32 and t.tolist() == [1.0, 0.0, 2.0]
    # Only float inputs convert: int target tokens stay strict, float tokens stay refused.
    with pytest.raises(TrainerUserError, match="dtype must be 'int64'"):
        parse_tensor(_td([1.0], "float32"), "data[0].loss_fn_inputs.target_tokens", "int64")
    with pytest.raises(TrainerUserError, match="integers"):
        parse_tensor({"data": [1.5], "dtype": "int64"}, "data[0].loss_fn_inputs.weights",
                     "float32")


def test_int_weights_train_exactly_like_float_weights(eng) -> None:
    w = [1, 0, 1, 1, 0, 1, 1]
    as_int = eng.forward([_datum(weights=_td(w, "int64"))], "cross_entropy")
    as_float = eng.forward([_datum(weights=_td([float(x) for x in w], "float32"))],
                           "cross_entropy")
    assert as_int["metrics"] == as_float["metrics"]
    assert as_int["loss_fn_outputs"] == as_float["loss_fn_outputs"]


def test_loss_mask_is_accepted_on_forward_and_masks_the_loss(eng) -> None:
    mask = [0, 0, 1, 1, 1, 0, 1]
    # A reference forward (what GRPO programs send): logprobs are unaffected by the mask.
    plain = eng.forward([_datum()], "cross_entropy")
    masked = eng.forward([_datum(loss_mask=_td(mask, "int64"))], "cross_entropy")
    lp = plain["loss_fn_outputs"][0]["logprobs"]["data"]
    assert masked["loss_fn_outputs"][0]["logprobs"]["data"] == lp
    assert masked["metrics"]["loss:sum"] == pytest.approx(
        -sum(m * x for m, x in zip(mask, lp)), abs=1e-5)
    # With weights too: the product counts.
    w = [2.0] * 7
    both = eng.forward([_datum(loss_mask=_td(mask, "float32"), weights=_td(w, "float32"))],
                       "cross_entropy")
    assert both["metrics"]["loss:sum"] == pytest.approx(2 * masked["metrics"]["loss:sum"],
                                                        abs=1e-5)


def test_loss_mask_zeroes_rl_advantages(eng) -> None:
    lp = eng.forward([_datum()], "cross_entropy")["loss_fn_outputs"][0]["logprobs"]["data"]
    adv = [0.5, -1.0, 2.0, 0.3, 1.0, 1.0, -0.5]
    mask = [1, 1, 0, 0, 1, 1, 1]
    out = eng.forward([_datum(advantages=_td(adv, "float32"), logprobs=_td(lp, "float32"),
                              loss_mask=_td(mask, "int64"))], "importance_sampling")
    assert out["metrics"]["loss:sum"] == pytest.approx(
        -sum(a * m for a, m in zip(adv, mask)), abs=1e-4)


def test_loss_mask_shape_is_checked() -> None:
    bad = _datum(loss_mask=_td([1, 1], "int64"))
    with pytest.raises(TrainerUserError, match="loss_mask: shape"):
        parse_datums([bad], CFG.vocab_size, CFG.max_seq_len, ("target_tokens",))
    with pytest.raises(TrainerUserError, match="unknown keys \\['mask'\\]"):
        parse_datums([_datum(mask=_td([1] * 7, "int64"))], CFG.vocab_size, CFG.max_seq_len,
                     ("target_tokens",))
