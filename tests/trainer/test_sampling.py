"""The serving engine (drydock.trainer.sampling): real sampling, batching that does not change
results, and served logprobs that equal the trainer's forward logprobs bit for bit on CPU."""

from __future__ import annotations

import math

import pytest
import torch

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, make_example
from drydock.trainer._model import TinyDecoder
from drydock.trainer.sampling import (
    SampleRequest,
    SamplingEngine,
    draw,
    generate_reference,
    sampling_logprobs,
)

CFG = LocalModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_seq_len=48)


@pytest.fixture()
def engine():
    eng = SamplingEngine(TinyDecoder(CFG, seed=0), max_seq_len=CFG.max_seq_len,
                         vocab_size=CFG.vocab_size)
    yield eng
    eng.close()


def run(eng, **kw):
    return eng.submit(SampleRequest(**kw)).result(timeout=60)


def test_sampling_logprobs_masks() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    assert sampling_logprobs(logits, 1.0, 1.0, 0).exp().sum().item() == pytest.approx(1.0)
    k2 = sampling_logprobs(logits, 1.0, 1.0, 2)
    assert torch.isinf(k2[0, 2:]).all() and k2[0, :2].exp().sum().item() == pytest.approx(1.0)
    # top_p: the smallest prefix reaching the mass (softmax = .61,.22,.14,.03 -> p=0.7 keeps 2)
    p = sampling_logprobs(logits, 1.0, 0.7, 0)
    assert torch.isfinite(p[0]).tolist() == [True, True, False, False]
    greedy = sampling_logprobs(logits, 0.0, 1.0, 0)
    assert greedy[0].tolist() == [0.0, -math.inf, -math.inf, -math.inf]
    hot = sampling_logprobs(logits, 2.0, 1.0, 0)[0].exp()
    assert hot[0] < logits.softmax(-1)[0, 0]  # temperature flattens
    assert draw(greedy, torch.tensor([0.999])).tolist() == [0]
    assert draw(k2, torch.tensor([0.0])).tolist() == [0]


def test_greedy_is_argmax_and_stop_tokens(engine) -> None:
    res = run(engine, prompt=[1, 2, 3], max_tokens=6, temperature=0.0)
    model = engine.model
    toks = [1, 2, 3]
    for _ in range(6):
        toks.append(int(model(torch.tensor([toks]))[0, -1].argmax()))
    assert res.completion == toks[3:] and res.finish_reason == "length"
    assert all(r.sampling_logprob == 0.0 for r in res.rows)
    stop = run(engine, prompt=[1, 2, 3], max_tokens=6, temperature=0.0,
               stop_token_ids=(toks[4],))
    first = toks[3:].index(toks[4])  # generation stops at the stop token's first occurrence
    assert stop.completion == toks[3:4 + first] and stop.finish_reason == "stop"


def test_seeded_samples_do_not_depend_on_the_batch(engine) -> None:
    alone = run(engine, prompt=[5, 6, 7], max_tokens=10, seed=42)
    crowd = [engine.submit(SampleRequest(prompt=[5, 6, 7][: 1 + i % 3] + [9], max_tokens=3 + i,
                                         seed=i)) for i in range(12)]
    mid = engine.submit(SampleRequest(prompt=[5, 6, 7], max_tokens=10, seed=42))
    [f.result(timeout=60) for f in crowd]
    assert mid.result(timeout=60).completion == alone.completion
    assert alone.completion == generate_reference(engine.model, [5, 6, 7], 10, seed=42)
    other = run(engine, prompt=[5, 6, 7], max_tokens=10, seed=43)
    assert other.completion != alone.completion


def test_served_logprobs_equal_the_trainers_forward_exactly(tmp_path) -> None:
    trainer = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu")
    trainer.forward_backward([make_example([1, 2, 3, 4, 5, 6])], "cross_entropy")
    trainer.optim_step({"learning_rate": 0.05})
    served = TinyDecoder(CFG)
    served.load_state_dict(trainer.model.state_dict())
    eng = SamplingEngine(served, max_seq_len=CFG.max_seq_len, vocab_size=CFG.vocab_size)
    try:
        for seed in range(4):
            res = eng.submit(SampleRequest(prompt=[3, 1, 4], max_tokens=8, seed=seed,
                                           temperature=0.7, echo=True, top_logprobs=3)
                             ).result(timeout=60)
            full = res.prompt + res.completion
            out = trainer.forward([make_example(full)], "cross_entropy")
            lp = out["outputs"][0]["logprobs"].data
            assert [r.logprob for r in res.rows[1:]] == lp          # bit for bit
            assert len(res.rows) == len(full) and res.rows[0].logprob == 0.0
            assert [r.sampling_logprob for r in res.rows[:3]] == [None] * 3
            # temperature 0.7 sharpens: the sampled token's sampling logprob differs from raw
            assert all(r.sampling_logprob is not None for r in res.rows[3:])
            assert [r.sampling_logprob for r in res.rows[3:]] != [r.logprob for r in res.rows[3:]]
            top = res.rows[4].top
            assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    finally:
        eng.close()


def test_validation_messages(engine) -> None:
    assert "non-empty" in engine.validate(SampleRequest(prompt=[]))
    assert "[0, 64)" in engine.validate(SampleRequest(prompt=[64]))
    assert "context length 48" in engine.validate(SampleRequest(prompt=[1] * 40, max_tokens=9))
    assert "top_p" in engine.validate(SampleRequest(prompt=[1], top_p=0.0))
    assert engine.validate(SampleRequest(prompt=[1], max_tokens=0)) is None
    assert run(engine, prompt=[1, 2], max_tokens=0).completion == []
