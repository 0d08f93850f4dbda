"""Resume equivalence: a run preempted after step k (save_state, a brand-new engine,
load_state with optimizer) gives the same losses and weights, bit for bit on CPU, as the
uninterrupted run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from drydock.emulator.shapes import LocalModelConfig
from drydock.trainer import TrainerEngine, make_example

CFG = LocalModelConfig(vocab_size=40, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_seq_len=16)
N_STEPS = 6
ADAM = {"learning_rate": 5e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.01,
        "grad_clip_norm": 1.0}


def _batch(i: int) -> tuple[str, list[dict]]:
    """The data of step i: cross_entropy on even steps, ppo on odd ones."""
    seqs = [[(i * 7 + j * 3 + t) % 40 for t in range(5 + j)] for j in range(2)]
    if i % 2 == 0:
        return "cross_entropy", [make_example(s) for s in seqs]
    return "ppo", [make_example(s, advantages=[(-1.0) ** t for t in range(len(s) - 1)],
                              logprobs=[-3.5] * (len(s) - 1)) for s in seqs]


def _run(eng: TrainerEngine, start: int, stop: int) -> list[float]:
    losses = []
    for i in range(start, stop):
        loss_fn, data = _batch(i)
        total = 0.0
        for d in data:   # two forward_backward calls per step: accumulation is covered too
            total += eng.forward_backward([d], loss_fn)["metrics"]["loss:sum"]
        eng.optim_step(ADAM, "num_loss_tokens")
        losses.append(total)
    return losses


def _state(eng: TrainerEngine) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in eng.model.state_dict().items()}
    for idx, st_ in eng.optimizer.state_dict()["state"].items():
        for k, v in st_.items():
            out[f"opt.{idx}.{k}"] = v
    return out


@settings(max_examples=6, deadline=None)
@given(k=st.integers(0, N_STEPS), seed=st.integers(0, 3), lora_rank=st.sampled_from([0, 2]))
def test_preempted_run_equals_uninterrupted_run(k: int, seed: int, lora_rank: int) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny tensors: one thread is faster, and no spin-waits on 2 cores
    try:
        _check(k, seed, lora_rank)
    finally:
        torch.set_num_threads(threads)


def _check(k: int, seed: int, lora_rank: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mk = lambda name, s: TrainerEngine(CFG, checkpoint_dir=root / name, device="cpu",
                                           seed=s, lora_rank=lora_rank)
        ref = mk("ref", seed)
        want = _run(ref, 0, N_STEPS)

        first = mk("job", seed)
        got = _run(first, 0, k)
        first.save_state(f"step-{k}", {"next_batch": k})
        del first
        # The new incarnation gets a different seed: everything must come from the checkpoint.
        second = mk("job", seed + 100)
        meta = second.load_state(f"step-{k}", optimizer=True)
        assert meta["step"] == k == second.step
        got += _run(second, meta["data_position"]["next_batch"], N_STEPS)

        assert got == want
        a, b = _state(ref), _state(second)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[n], b[n]) for n in a), [n for n in a if not torch.equal(a[n], b[n])]
        assert second.step == ref.step == N_STEPS


# --- preemption inside an accumulation window ------------------------------------------------
# With gradient_accumulation_steps N every step is N (forward_backward, optim_step) pairs and only
# the N-th optim_step applies; a preemption may land after any of those calls.
N_MICRO = 7


def _run_micro(eng: TrainerEngine, ops: list[tuple[int, str]]) -> list[float]:
    out = []
    for i, op in ops:
        if op == "fb":
            loss_fn, data = _batch(i)
            out.append(eng.forward_backward(data, loss_fn)["metrics"]["loss:sum"])
        else:
            out.append(eng.optim_step(ADAM, "num_loss_tokens")["metrics"]["step:max"])
    return out


@settings(max_examples=6, deadline=None)
@given(
    cut=st.integers(0, 2 * N_MICRO),
    accumulate=st.sampled_from([2, 3]),
    lora_rank=st.sampled_from([0, 2]),
)
def test_preemption_inside_accumulation_window_resumes_bit_exact(
    cut: int, accumulate: int, lora_rank: int
) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_window(cut, accumulate, lora_rank)
    finally:
        torch.set_num_threads(threads)


def _check_window(cut: int, accumulate: int, lora_rank: int) -> None:
    ops = [(i, op) for i in range(N_MICRO) for op in ("fb", "opt")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def mk(name: str, s: int) -> TrainerEngine:
            return TrainerEngine(CFG, checkpoint_dir=root / name, device="cpu", seed=s,
                                 lora_rank=lora_rank, gradient_accumulation_steps=accumulate)

        ref = mk("ref", 1)
        want = _run_micro(ref, ops)
        assert ref.step == N_MICRO // accumulate

        first = mk("job", 1)
        got = _run_micro(first, ops[:cut])
        pending = first.micro_batches
        first.save_state("cut", {"next_op": cut})
        del first
        second = mk("job", 101)
        meta = second.load_state("cut", optimizer=True)
        assert second.micro_batches == pending   # the window's position came back
        got += _run_micro(second, ops[meta["data_position"]["next_op"]:])

        assert got == want
        a, b = _state(ref), _state(second)
        assert all(torch.equal(a[n], b[n]) for n in a), [n for n in a if not torch.equal(a[n], b[n])]
        assert second.step == ref.step


def test_load_without_optimizer_drops_the_accumulated_gradients(tmp_path: Path) -> None:
    eng = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu", gradient_accumulation_steps=2)
    loss_fn, data = _batch(0)
    eng.forward_backward(data, loss_fn)
    eng.save_state("mid")
    fresh = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu", gradient_accumulation_steps=2)
    fresh.load_state("mid", optimizer=False)
    assert fresh.micro_batches == 0
    assert all(p.grad is None for p in fresh.params)
    fresh.load_state("mid", optimizer=True)
    assert fresh.micro_batches == 1
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(fresh.params, eng.params, strict=True))


def test_a_window_saved_by_two_nodes_resumes_on_one_as_their_sum(tmp_path: Path) -> None:
    eng = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu", gradient_accumulation_steps=3)
    (la, da), (lb, db) = _batch(0), _batch(2)
    eng.forward_backward(da, la)
    node0 = eng.accumulation()
    eng.model.zero_grad(set_to_none=True)
    eng._acc_tokens = eng._acc_seqs = eng.micro_batches = 0   # a second node's first micro-batch
    eng.forward_backward(db, lb)
    node1 = eng.accumulation()
    eng.save_state("two", accumulation=[node0, node1])
    one = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu", gradient_accumulation_steps=3)
    one.load_state("two", optimizer=True)
    names = dict(one.model.named_parameters())
    assert all(torch.equal(names[n].grad, node0[0][n] + node1[0][n]) for n in node0[0])
    assert one._acc_tokens == node0[1]["tokens"] + node1[1]["tokens"] > node0[1]["tokens"]
    follower = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu",
                             gradient_accumulation_steps=3)
    follower.load_state("two", optimizer=True, node=(1, 3))   # another node count, not the lead
    assert all(p.grad is None for p in follower.params) and follower.micro_batches == 1
    own = TrainerEngine(CFG, checkpoint_dir=tmp_path, device="cpu", gradient_accumulation_steps=3)
    own.load_state("two", optimizer=True, node=(1, 2))          # same node count: its own
    assert all(torch.equal(dict(own.model.named_parameters())[n].grad, g)
               for n, g in node1[0].items())
