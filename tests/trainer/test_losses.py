"""Loss math (spec §11) against hand-computed values, and through the engine."""

from __future__ import annotations

import math

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, TrainerUserError, make_example
from drydock.trainer.losses import compute_loss

LP = torch.tensor([math.log(0.5), math.log(0.25), math.log(0.8)])
Q = torch.tensor([math.log(0.25), math.log(0.25), math.log(0.4)])   # r = 2, 1, 2
A = torch.tensor([1.0, -2.0, -1.0])


def _inputs(**extra: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"target_tokens": torch.tensor([1, 2, 3]), "logprobs": Q, "advantages": A, **extra}


def _close(t: torch.Tensor, expected: list[float]) -> None:
    assert t.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_cross_entropy_is_minus_weighted_logprob() -> None:
    loss, n = compute_loss("cross_entropy", LP, {"target_tokens": torch.tensor([1, 2, 3]),
                                                 "weights": torch.tensor([1.0, 0.0, 2.0])})
    _close(loss, [math.log(2), 0.0, -2 * math.log(0.8)])
    assert n == 2   # zero weights are not loss tokens
    loss, n = compute_loss("cross_entropy", LP, {"target_tokens": torch.tensor([1, 2, 3])})
    _close(loss, [-v for v in LP.tolist()])
    assert n == 3


def test_importance_sampling_and_log_cap() -> None:
    loss, n = compute_loss("importance_sampling", LP, _inputs())
    _close(loss, [-2.0, 2.0, 2.0])
    assert n == 3
    capped, _ = compute_loss("importance_sampling", LP, _inputs(), {"ratio_log_cap": 0.5})
    _close(capped, [-math.exp(0.5), 2.0, math.exp(0.5)])


def test_ppo_clips_with_default_and_given_thresholds() -> None:
    # r=2, A=1: min(2, 1.2) = 1.2 ; r=1, A=-2: -2 ; r=2, A=-1: min(-2, -1.2) = -2
    loss, _ = compute_loss("ppo", LP, _inputs())
    _close(loss, [-1.2, 2.0, 2.0])
    loss, _ = compute_loss("ppo", LP, _inputs(), {"clip_low_threshold": 0.5,
                                                  "clip_high_threshold": 1.5})
    _close(loss, [-1.5, 2.0, 2.0])
    per_token = _inputs(clip_high_threshold=torch.tensor([3.0, 3.0, 3.0]))
    _close(compute_loss("ppo", LP, per_token)[0], [-2.0, 2.0, 2.0])


def test_cispo_stops_gradient_through_ratio() -> None:
    lp = LP.clone().requires_grad_(True)
    loss, _ = compute_loss("cispo", lp, _inputs())
    # clip(r) = 1.2, 1.0, 1.2 -> loss = -clip * lp * A
    _close(loss.detach(), [-1.2 * LP[0].item(), 2.0 * LP[1].item(), 1.2 * LP[2].item()])
    loss.sum().backward()
    _close(lp.grad, [-1.2, 2.0, 1.2])   # d/dlp of -c*lp*A with c constant


def test_dro_quadratic_penalty() -> None:
    loss, _ = compute_loss("dro", LP, _inputs(), {"beta": 0.5})
    d = (LP - Q).tolist()
    expected = [-(LP[i].item() * A[i].item() - 0.25 * d[i] ** 2) for i in range(3)]
    _close(loss, expected)


@pytest.mark.parametrize("name,cfg", [("dapo", None), ("nope", None),
                                      ("ppo", {"eps_clip_c": 3.0}),
                                      ("cross_entropy", {"beta": 1.0}),
                                      ("ppo", {"clip_low_threshold": float("nan")})])
def test_unknown_or_unsupported_losses_and_config_raise(name: str, cfg: dict | None) -> None:
    with pytest.raises(TrainerUserError):
        compute_loss(name, LP, _inputs(), cfg)


def test_engine_losses_match_model_logprobs(tmp_path) -> None:
    cfg = LocalModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                           max_seq_len=16)
    eng = TrainerEngine(cfg, checkpoint_dir=tmp_path, device="cpu")
    toks = [3, 1, 4, 1, 5, 9, 2, 6]
    with torch.no_grad():
        ref = eng.model(torch.tensor([toks[:-1]])).log_softmax(-1)[0]
    expected_lp = ref.gather(-1, torch.tensor(toks[1:])[:, None])[:, 0]
    out = eng.forward([make_example(toks, weights=[1, 0, 1, 1, 0, 1, 1])], "cross_entropy")
    lp = out["outputs"][0]["logprobs"].data
    assert lp == pytest.approx(expected_lp.tolist(), abs=1e-5)
    w = torch.tensor([1, 0, 1, 1, 0, 1, 1.0])
    assert out["metrics"]["loss:sum"] == pytest.approx(float(-(w * expected_lp).sum()), abs=1e-4)
    # RL losses: with q = lp the ratio is 1 and importance_sampling's loss is -sum(A).
    adv = [0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5]
    out = eng.forward([make_example(toks, advantages=adv, logprobs=lp)], "importance_sampling")
    assert out["metrics"]["loss:sum"] == pytest.approx(-sum(adv), abs=1e-4)
    assert list(out["metrics"]) == ["loss:sum"]


def test_cross_entropy_is_linear_in_weights(tmp_path) -> None:
    """forward_backward_custom relies on it: loss(w1 + w2) == loss(w1) + loss(w2)."""
    cfg = LocalModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                           max_seq_len=16)
    eng = TrainerEngine(cfg, checkpoint_dir=tmp_path, device="cpu")
    toks = [1, 2, 3, 4, 5]
    w1, w2 = [0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -3.0, 0.25]
    f = lambda w: eng.forward([make_example(toks, weights=w)], "cross_entropy")["metrics"]["loss:sum"]
    assert f([a + b for a, b in zip(w1, w2, strict=False)]) == pytest.approx(f(w1) + f(w2), abs=1e-4)
