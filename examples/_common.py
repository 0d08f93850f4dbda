"""Shared by the two SFT examples: command line, the toy dataset, and where the emulator is.

Not an example itself: it builds an in-process drydock emulator (a tiny torch model behind each
job) or points at a running `drydock serve`, and injects a preemption at a training step so the
examples show their recovery.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

BASE_MODEL = "accounts/fireworks/models/qwen3-0p6b"
DEFAULT_KEY = "drydock-local-key"


def parse_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", help="a drydock server (`drydock serve`); default: in process")
    p.add_argument("--api-key", default=DEFAULT_KEY)
    p.add_argument("--admin-token", default=None, help="the server's /_drydock admin token")
    p.add_argument("--job-id", default="sft-example")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--checkpoint-every", type=int, default=2)
    p.add_argument("--preempt-at-step", type=int, default=3,
                   help="inject a preemption when the trainer finishes this step (0: none)")
    return p.parse_args(argv)


def batch(step: int) -> list[list[int]]:
    """Two short token sequences per step (deterministic, so runs are comparable)."""
    return [[(step * 7 + i * 3 + k) % 64 for k in range(8)] for i in range(2)]


@contextmanager
def emulator(args: argparse.Namespace) -> Iterator[tuple[object | None, str]]:
    """(in-process Emulator or None, base URL). In process: a tiny model on CPU threads."""
    if args.url:
        yield None, args.url.rstrip("/")
        return
    from drydock.emulator import Emulator, default_catalog
    from drydock.emulator.shapes import LocalModelConfig
    from drydock.trainer import thread_runtime

    catalog = default_catalog()
    for m in catalog.models:
        m.local = LocalModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                                   max_seq_len=32)
    with Emulator(seed=0, catalog=catalog, runtime=thread_runtime(grace_s=0.1),
                  accounts={"drydock": args.api_key}) as emu, emu.serve() as server:
        yield emu, server.url


def inject_preemption(args: argparse.Namespace, emu: object | None, url: str) -> None:
    """Arm `Preempt(at_step=N)` for the job, in process or over /_drydock/faults."""
    if not args.preempt_at_step:
        return
    fault = {"kind": "preempt", "job": args.job_id, "at_step": args.preempt_at_step}
    if emu is not None:
        from drydock.emulator import FaultPlan

        emu.inject(FaultPlan.model_validate({"faults": [fault]}))  # type: ignore[attr-defined]
        return
    headers = {"X-Drydock-Admin-Token": args.admin_token} if args.admin_token else {}
    httpx.post(f"{url}/_drydock/faults", json={"faults": [fault]}, headers=headers,
               timeout=30).raise_for_status()
