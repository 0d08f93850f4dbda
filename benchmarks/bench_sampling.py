"""Sampled tokens/s through the real fireworks-ai 1.2.28 sampler vs the same model's bare torch
generate loop, and hot-load latency; same run, same model.

    .venv/bin/python benchmarks/bench_sampling.py [--n 32] [--prompt 16] [--tokens 64]
                                                  [--rounds 3] [--model qwen3-0p6b]

Arms:
  bare-batched  the N sequences decoded together by a bare torch loop (one forward over the
                padded batch per token, sample, append; no server, no rescoring) - the yardstick
  bare-serial   `drydock.trainer.sampling.generate_reference`, one sequence at a time
  sampler       `DeploymentSampler.sample_with_prompt_tokens(n=N, logprobs=True)` over loopback
                HTTP (SSE) to a deployment whose replica batches the N concurrent requests
Prints tokens/s per arm and sampler / bare-batched (target >= 0.8x), then the wall time of a
hot-load (`DeploymentManager.hotload_and_wait`, snapshot already saved) and of a full
`WeightSyncer.save_and_hotload` (save + load + warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import torch

from drydock.emulator import Emulator
from drydock.testing import virtual_time
from drydock.trainer import thread_runtime
from drydock.trainer._model import TinyDecoder
from drydock.trainer.sampling import generate_reference, sampling_logprobs


def prompts(n: int, length: int, vocab: int) -> list[list[int]]:
    return [[(i * 131 + k * 7 + 1) % vocab for k in range(length)] for i in range(n)]


@torch.no_grad()
def bare_batched(model, ps: list[list[int]], tokens: int, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    seqs = torch.tensor(ps)
    t0 = time.perf_counter()
    for _ in range(tokens):
        row = model(seqs)[:, -1].float()
        nxt = torch.multinomial(sampling_logprobs(row, 1.0, 1.0, 0).exp(), 1, generator=gen)
        seqs = torch.cat([seqs, nxt], dim=1)
    return len(ps) * tokens / (time.perf_counter() - t0)


def bare_serial(model, ps: list[list[int]], tokens: int) -> float:
    t0 = time.perf_counter()
    for i, p in enumerate(ps):
        generate_reference(model, p, tokens, seed=i)
    return len(ps) * tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen3-0p6b")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import fireworks.training.sdk as fw
    from fireworks.training.sdk.deployment import DeploymentConfig, DeploymentManager
    from fireworks.training.sdk.trainer import TrainerJobConfig, TrainerJobManager
    from fireworks.training.sdk.weight_syncer import WeightSyncer

    base = f"accounts/fireworks/models/{args.model}"
    shape = f"accounts/fireworks/deploymentShapes/{args.model}-32k-h100-deploy/versions/1"
    with Emulator(seed=0, runtime=thread_runtime()) as emu, emu.serve() as server:
        cfg = emu.control_plane.catalog.model(base).local
        ps = prompts(args.n, args.prompt, cfg.vocab_size)
        jobs = TrainerJobManager(api_key=emu.api_key, base_url=server.url)
        deps = DeploymentManager(api_key=emu.api_key, base_url=server.url)
        with virtual_time(emu):
            ep = jobs.create_and_wait(TrainerJobConfig(base_model=base, requested_job_id="bench"))
            deps.create_or_get(DeploymentConfig(deployment_id="bench-dep", base_model=base,
                                                deployment_shape=shape, min_replica_count=1,
                                                hot_load_trainer_job=ep.job_name))
            deps.wait_for_ready("bench-dep")
        service = fw.FiretitanServiceClient(base_url=ep.base_url, api_key=emu.api_key)
        tc = service.create_training_client(base_model=base)
        syncer = WeightSyncer(policy_client=tc, deploy_mgr=deps, deployment_id="bench-dep",
                              base_model=base)
        sync_ms = []
        for i in range(args.rounds):
            t0 = time.perf_counter()
            with virtual_time(emu):
                syncer.save_and_hotload(f"bench-{i}")
            sync_ms.append((time.perf_counter() - t0) * 1e3)
        ident = tc.save_weights_for_sampler("bench-full").result().path
        load_ms = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            assert deps.hotload_and_wait("bench-dep", base, ident)
            load_ms.append((time.perf_counter() - t0) * 1e3)

        sampler = syncer.get_deployment_sampler()
        loop = asyncio.new_event_loop()

        async def all_prompts():
            return await asyncio.gather(*[sampler.sample_with_prompt_tokens(
                p, n=1, max_tokens=args.tokens, temperature=1.0, logprobs=True) for p in ps])

        loop.run_until_complete(all_prompts())  # warm-up
        served = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            out = loop.run_until_complete(all_prompts())
            served.append(sum(s[0].completion_len for s in out) / (time.perf_counter() - t0))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

        model = TinyDecoder(cfg, seed=0).eval()
        torch.set_num_threads(torch.get_num_threads())
        bare_batched(model, ps[:2], 2)
        batched = [bare_batched(model, ps, args.tokens, seed=r) for r in range(args.rounds)]
        serial = [bare_serial(model, ps[: max(2, args.n // 8)], args.tokens)
                  for _ in range(args.rounds)]
        service.close()
        deps.delete("bench-dep")

    med = statistics.median
    print(f"model {args.model} ({cfg.d_model}d x {cfg.n_layers} layers, vocab {cfg.vocab_size}); "
          f"{args.n} requests x {args.tokens} tokens, prompt {args.prompt}; device "
          f"{'cuda' if torch.cuda.is_available() else 'cpu'}")
    print(f"  bare-batched  {med(batched):9.0f} tokens/s")
    print(f"  bare-serial   {med(serial):9.0f} tokens/s")
    print(f"  sampler       {med(served):9.0f} tokens/s   "
          f"ratio sampler/bare-batched {med(served) / med(batched):.2f}x (target >= 0.8x)")
    print(f"hot-load (hotload_and_wait)       median {med(load_ms):7.1f} ms")
    print(f"save_and_hotload (save+load+warm) median {med(sync_ms):7.1f} ms")


if __name__ == "__main__":
    main()
