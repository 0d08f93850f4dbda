"""TrainerEngine: training, accumulation, normalisation, LoRA, validation, forward-only."""

from __future__ import annotations

import copy

import pytest
import torch

from drydock.emulator.dialects.fireworks.tinker.datums import make_datum, parse_datums
from drydock.emulator.dialects.fireworks.tinker.results import forward_output
from drydock.emulator.errors import InvalidArgument
from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, TrainerUserError, make_example

CFG = LocalModelConfig(vocab_size=48, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16)
ADAM = {"learning_rate": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
        "grad_clip_norm": 1.0}
DATA = [make_example([1, 5, 9, 13, 17, 21, 25, 29]), make_example([2, 4, 6, 8, 10, 12]),
        make_example([40, 30, 20, 10, 0], weights=[1.0, 1.0, 0.0, 1.0])]


def _engine(tmp_path, **kw) -> TrainerEngine:
    return TrainerEngine(CFG, checkpoint_dir=tmp_path / "ckpt", device="cpu", **kw)


def _snapshot(eng: TrainerEngine) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in eng.model.state_dict().items()}


def test_loss_decreases_over_20_steps(tmp_path) -> None:
    eng = _engine(tmp_path)
    losses = []
    for _ in range(20):
        losses.append(eng.forward_backward(DATA, "cross_entropy")["metrics"]["loss:sum"])
        metrics = eng.optim_step(ADAM, "num_loss_tokens")["metrics"]
    assert eng.step == 20
    assert losses[-1] < 0.5 * losses[0]
    assert all(a > b for a, b in zip(losses[:5], losses[1:6], strict=False))
    assert all(k.count(":") == 1 for k in metrics)


def test_gradient_accumulation_steps_defers_the_update_to_every_nth_micro_batch(tmp_path) -> None:
    """N=3: an optim_step after each forward_backward (the seed's loop) applies on every 3rd;
    the update equals one step over the three micro-batches, normalised over all their tokens."""
    acc = _engine(tmp_path / "acc", gradient_accumulation_steps=3)
    ref = _engine(tmp_path / "ref")
    start = _snapshot(acc)
    for i, d in enumerate(DATA):
        acc.forward_backward([d], "cross_entropy")
        ref.forward_backward([d], "cross_entropy")
        m = acc.optim_step(ADAM, "num_loss_tokens")["metrics"]
        if i < 2:  # deferred: validated, nothing applied, step unchanged
            assert acc.step == 0 and m == {"step:max": 0.0, "micro_batches:max": float(i + 1)}
            assert all(torch.equal(start[k], v) for k, v in acc.model.state_dict().items())
    want = ref.optim_step(ADAM, "num_loss_tokens")["metrics"]
    assert acc.step == ref.step == 1 and m == want
    for (k, a), b in zip(acc.model.state_dict().items(), ref.model.state_dict().values(), strict=False):
        assert torch.equal(a, b), k
    # N micro-batches in one go, then one optim_step: applies at once
    acc.forward_backward(DATA[:1], "cross_entropy")
    acc.forward_backward(DATA[1:2], "cross_entropy")
    acc.forward_backward(DATA[2:], "cross_entropy")
    acc.optim_step(ADAM)
    assert acc.step == 2 and acc.micro_batches == 0
    # a bad optim_step is refused even when it would be deferred
    acc.forward_backward(DATA[:1], "cross_entropy")
    with pytest.raises(TrainerUserError):
        acc.optim_step({**ADAM, "beta1": 2.0})
    assert acc.micro_batches == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_gradient_accumulation_steps_must_be_a_positive_integer(tmp_path, bad) -> None:
    with pytest.raises(TrainerUserError, match="gradient_accumulation_steps"):
        _engine(tmp_path, gradient_accumulation_steps=bad)


def test_the_default_applies_every_optim_step_even_without_new_gradients(tmp_path) -> None:
    eng = _engine(tmp_path)
    eng.optim_step(ADAM)
    eng.optim_step(ADAM)
    assert eng.step == 2


def test_lora_trains_only_adapters(tmp_path) -> None:
    eng = _engine(tmp_path, lora_rank=4)
    trainable = {n for n, p in eng.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    lora_modules = {n.rsplit(".", 1)[0] for n in trainable}
    assert {m.rsplit(".", 1)[1] for m in lora_modules} == {"qkv", "proj", "up", "down"}
    before = _snapshot(eng)
    first = eng.forward(DATA, "cross_entropy")["metrics"]["loss:sum"]
    for _ in range(10):
        eng.forward_backward(DATA, "cross_entropy")
        eng.optim_step(ADAM, "num_loss_tokens")
    after = _snapshot(eng)
    for k in before:
        assert torch.equal(before[k], after[k]) != ("lora_" in k), k
    assert eng.forward(DATA, "cross_entropy")["metrics"]["loss:sum"] < first


def test_gradients_accumulate_across_calls(tmp_path) -> None:
    one = _engine(tmp_path / "a")
    two = _engine(tmp_path / "b")
    one.forward_backward(DATA, "cross_entropy")
    two.forward_backward(DATA[:1], "cross_entropy")
    two.forward_backward(DATA[1:], "cross_entropy")
    m1 = one.optim_step(ADAM, "num_loss_tokens")["metrics"]
    m2 = two.optim_step(ADAM, "num_loss_tokens")["metrics"]
    assert m1["num_loss_tokens:sum"] == m2["num_loss_tokens:sum"] == 7 + 5 + 3
    assert m1["grad_norm:mean"] == pytest.approx(m2["grad_norm:mean"], rel=1e-4)
    for (k, a), b in zip(one.model.state_dict().items(), two.model.state_dict().values(), strict=False):
        assert torch.allclose(a, b, atol=1e-6), k


@pytest.mark.parametrize("norm,divisor", [("num_loss_tokens", 15), ("num_sequences", 3),
                                          ("none", 1), (None, 1)])
def test_normalisation_divides_gradients(tmp_path, norm, divisor) -> None:
    ref = _engine(tmp_path / "ref")
    ref.forward_backward(DATA, "cross_entropy")
    raw = ref.optim_step({**ADAM, "grad_clip_norm": 0.0}, "none")["metrics"]["grad_norm:mean"]
    eng = _engine(tmp_path / "eng")
    eng.forward_backward(DATA, "cross_entropy")
    got = eng.optim_step({**ADAM, "grad_clip_norm": 0.0}, norm)["metrics"]["grad_norm:mean"]
    assert got == pytest.approx(raw / divisor, rel=1e-4)


def test_grad_clip_bounds_the_update(tmp_path) -> None:
    """With plain SGD-like settings (beta1=beta2=0 would be AdamW anyway) we check the clip by
    the gradient the optimizer saw: AdamW's first moment after one step is (1-beta1)*grad."""
    eng = _engine(tmp_path)
    eng.forward_backward(DATA, "cross_entropy")
    eng.optim_step({**ADAM, "grad_clip_norm": 0.01}, "none")
    m = [s["exp_avg"] for s in eng.optimizer.state.values()]
    seen = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in m]))
    assert float(seen) / (1 - ADAM["beta1"]) == pytest.approx(0.01, rel=1e-3)


def _bad_datums() -> list[tuple[str, object]]:
    good = make_datum([1, 2, 3, 4])
    cases = []

    def variant(label, fn):
        d = copy.deepcopy(good)
        fn(d)
        cases.append((label, [d]))

    variant("token out of vocab", lambda d: d["model_input"]["chunks"][0]["tokens"].__setitem__(0, 48))
    variant("negative token", lambda d: d["model_input"]["chunks"][0]["tokens"].__setitem__(0, -1))
    variant("target out of vocab", lambda d: d["loss_fn_inputs"]["target_tokens"].update(data=[1, 2, 99], shape=[3]))
    variant("target length", lambda d: d["loss_fn_inputs"]["target_tokens"].update(data=[1, 2], shape=[2]))
    variant("weights length", lambda d: d["loss_fn_inputs"].update(weights={"data": [1.0], "dtype": "float32"}))
    variant("bad dtype", lambda d: d["loss_fn_inputs"]["target_tokens"].update(dtype="int32"))
    variant("float targets", lambda d: d["loss_fn_inputs"]["target_tokens"].update(dtype="float32"))
    variant("extra TensorData key", lambda d: d["loss_fn_inputs"]["target_tokens"].update(device="cpu"))
    variant("shape mismatch", lambda d: d["loss_fn_inputs"]["target_tokens"].update(shape=[4]))
    variant("nan weight", lambda d: d["loss_fn_inputs"].update(weights={"data": [1.0, float("nan"), 1.0], "dtype": "float32"}))
    variant("image chunk", lambda d: d["model_input"]["chunks"].append({"type": "image", "data": "", "format": "png"}))
    variant("unknown input key", lambda d: d["loss_fn_inputs"].update(mask=[1, 1, 1]))
    variant("too long", lambda d: d.update(**make_datum(list(range(18)))))
    variant("empty tokens", lambda d: d["model_input"]["chunks"][0].update(tokens=[]))
    cases.append(("empty batch", []))
    cases.append(("not a list", {"data": 1}))
    return cases


@pytest.mark.parametrize("label,data", _bad_datums(), ids=[c[0] for c in _bad_datums()])
def test_bad_input_raises_and_engine_stays_usable(tmp_path, label, data) -> None:
    """Wire datums through the Fireworks dialect's parser, then the engine: one of the two
    refuses every bad datum (structure: the parser; the model's bounds: the engine)."""
    eng = _engine(tmp_path)
    eng.forward_backward(DATA[:1], "cross_entropy")   # pending gradients must survive
    before = _snapshot(eng)
    with pytest.raises((InvalidArgument, TrainerUserError)):
        eng.forward_backward(parse_datums(data), "cross_entropy")
    with pytest.raises((InvalidArgument, TrainerUserError)):
        eng.forward(parse_datums(data), "cross_entropy")
    assert all(torch.equal(before[k], v) for k, v in eng.model.state_dict().items())
    m = eng.optim_step(ADAM, "num_loss_tokens")["metrics"]
    assert m["num_loss_tokens:sum"] == 7 and eng.step == 1


@pytest.mark.parametrize("call", [
    lambda e: e.forward_backward(DATA, "dapo"),
    lambda e: e.forward_backward(DATA, "ppo"),          # missing advantages / logprobs
    lambda e: e.optim_step({**ADAM, "learning_rate": -1.0}),
    lambda e: e.optim_step({**ADAM, "beta1": 1.0}),
    lambda e: e.optim_step({**ADAM, "momentum": 0.9}),
    lambda e: e.optim_step(ADAM, "per_token"),
    # exp(lp - q) ~ 1e33 times 3e38 overflows: a typed error, never an inf loss or gradient
    lambda e: e.forward_backward([make_example([1, 2, 3], advantages=[3e38, 3e38],
                                             logprobs=[-80.0, -80.0])], "importance_sampling"),
])
def test_bad_loss_and_optimizer_arguments(tmp_path, call) -> None:
    eng = _engine(tmp_path)
    with pytest.raises(TrainerUserError):
        call(eng)
    assert eng.step == 0
    eng.forward_backward(DATA, "cross_entropy")
    eng.optim_step(ADAM)
    assert eng.step == 1


def test_forward_only_refuses_training(tmp_path) -> None:
    eng = _engine(tmp_path, forward_only=True)
    out = eng.forward(DATA, "cross_entropy")
    assert len(out["outputs"]) == 3
    with pytest.raises(TrainerUserError, match="forward-only"):
        eng.forward_backward(DATA, "cross_entropy")
    with pytest.raises(TrainerUserError, match="forward-only"):
        eng.optim_step(ADAM)


def test_output_shapes_and_sparse_targets(tmp_path) -> None:
    eng = _engine(tmp_path)
    dense = {"model_input": {"chunks": [{"type": "encoded_text", "tokens": [1, 2, 3]},
                                        {"type": "encoded_text", "tokens": [4]}]},
             "loss_fn_inputs": {"target_tokens": {"data": [2, 0, 3, 0, 4, 7, 5, 0],
                                                  "dtype": "int64", "shape": [4, 2]},
                                "weights": {"data": [1, 0, 1, 0, 1, 1, 1, 0],
                                            "dtype": "float32", "shape": [4, 2]}}}
    # The same 2-D tensors in CSR form (what the client sends when smaller).
    sparse = copy.deepcopy(dense)
    sparse["loss_fn_inputs"]["weights"] = {"data": [1.0, 1.0, 1.0, 1.0, 1.0], "dtype": "float32",
                                           "shape": [4, 2], "sparse_crow_indices": [0, 1, 2, 4, 5],
                                           "sparse_col_indices": [0, 0, 0, 1, 0]}
    a = forward_output(eng.forward(parse_datums([dense]), "cross_entropy"))
    b = forward_output(eng.forward(parse_datums([sparse]), "cross_entropy"))
    assert a == b
    lp = a["loss_fn_outputs"][0]["logprobs"]
    assert lp["shape"] == [4, 2] and lp["dtype"] == "float32" and len(lp["data"]) == 8
    assert set(a["loss_fn_outputs"][0]) == {"logprobs", "elementwise_loss"}
    assert a["loss_fn_output_type"] == "ArrayRecord"


def test_same_seed_same_init_and_different_seed_differs(tmp_path) -> None:
    a, b, c = (_engine(tmp_path / n, seed=s) for n, s in (("a", 3), ("b", 3), ("c", 4)))
    sa, sb, sc = _snapshot(a), _snapshot(b), _snapshot(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["tok.weight"], sc["tok.weight"])


def test_init_weights_from_sampler_checkpoint(tmp_path) -> None:
    src = _engine(tmp_path / "src", lora_rank=2)
    for _ in range(3):
        src.forward_backward(DATA, "cross_entropy")
        src.optim_step(ADAM, "num_loss_tokens")
    saved = src.save_for_sampler("promoted-1234abcd")
    assert saved.kind == "INFERENCE_LORA"
    want = src.forward(DATA, "cross_entropy")["metrics"]["loss:sum"]
    for rank in (0, 2):   # LoRA folded into the base weights; new adapters start at zero
        dst = TrainerEngine(CFG, checkpoint_dir=tmp_path / f"dst{rank}", device="cpu",
                            lora_rank=rank, seed=9, init_weights=saved.path)
        assert dst.forward(DATA, "cross_entropy")["metrics"]["loss:sum"] == pytest.approx(want, rel=1e-5)
    other = CFG.model_copy(update={"d_model": 32})
    with pytest.raises(TrainerUserError):
        TrainerEngine(other, checkpoint_dir=tmp_path / "x", device="cpu", init_weights=saved.path)
