"""What RL programs send and the real service accepts: `loss_fn_inputs.loss_mask` and `weights`
as int64 (a client turns a numpy/torch int array into int64 TensorData). Both become float32;
the mask zeroes the loss (and the loss-token count) at masked positions. Parsed by the Fireworks
dialect's Tinker datums (emulator/dialects/fireworks/tinker/datums.py), run by the engine."""

from __future__ import annotations

import pytest

from drydock.emulator.dialects.fireworks.tinker.datums import make_datum, parse_datums, parse_tensor
from drydock.emulator.errors import InvalidArgument
from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine

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


def fwd(eng, loss_fn="cross_entropy", **inputs):
    out = eng.forward(parse_datums([_datum(**inputs)]), loss_fn)
    return out["outputs"][0]["logprobs"].data, out["metrics"]["loss:sum"]


def test_int64_weights_convert_to_float32() -> None:
    a = parse_tensor(_td([1, 0, 2], "int64"), "data[0].loss_fn_inputs.weights", "float32")
    assert a.dtype == "float32" and a.data == [1.0, 0.0, 2.0]
    # Only float inputs convert: int target tokens stay strict, float tokens stay refused.
    with pytest.raises(InvalidArgument, match="dtype must be 'int64'"):
        parse_tensor(_td([1.0], "float32"), "data[0].loss_fn_inputs.target_tokens", "int64")
    with pytest.raises(InvalidArgument, match="integers"):
        parse_tensor({"data": [1.5], "dtype": "int64"}, "data[0].loss_fn_inputs.weights",
                     "float32")


def test_int_weights_train_exactly_like_float_weights(eng) -> None:
    w = [1, 0, 1, 1, 0, 1, 1]
    assert fwd(eng, weights=_td(w, "int64")) == fwd(eng, weights=_td([float(x) for x in w],
                                                                       "float32"))


def test_loss_mask_is_accepted_on_forward_and_masks_the_loss(eng) -> None:
    mask = [0, 0, 1, 1, 1, 0, 1]
    lp, _ = fwd(eng)                          # a reference forward, as GRPO programs send it
    masked_lp, masked = fwd(eng, loss_mask=_td(mask, "int64"))
    assert masked_lp == lp                    # logprobs are unaffected by the mask
    assert masked == pytest.approx(-sum(m * x for m, x in zip(mask, lp, strict=False)), abs=1e-5)
    _, both = fwd(eng, loss_mask=_td(mask, "float32"), weights=_td([2.0] * 7, "float32"))
    assert both == pytest.approx(2 * masked, abs=1e-5)   # with weights too: the product


def test_loss_mask_zeroes_rl_advantages(eng) -> None:
    lp, _ = fwd(eng)
    adv = [0.5, -1.0, 2.0, 0.3, 1.0, 1.0, -0.5]
    mask = [1, 1, 0, 0, 1, 1, 1]
    _, loss = fwd(eng, "importance_sampling", advantages=_td(adv, "float32"),
                  logprobs=_td(lp, "float32"), loss_mask=_td(mask, "int64"))
    assert loss == pytest.approx(-sum(a * m for a, m in zip(adv, mask, strict=False)), abs=1e-4)


def test_loss_mask_shape_and_unknown_keys_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="loss_mask: shape"):
        parse_datums([_datum(loss_mask=_td([1, 1], "int64"))])
    with pytest.raises(InvalidArgument, match="unknown keys \\['mask'\\]"):
        parse_datums([_datum(mask=_td([1] * 7, "int64"))])
