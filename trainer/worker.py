"""The worker: hosts the torch engines of one job incarnation and runs ops in arrival order.

One worker per node of a RUNNING job. By default a real OS process (multiprocessing spawn) fed
over a duplex pipe; in fast mode a thread fed over queues. The gateway (`gateway.py`) decides the
order of ops; the worker runs them one at a time, in the order it receives them, and answers
`(op_id, ok, payload)`. With several nodes the workers form a torch.distributed group
(data-parallel: each node gets a contiguous shard of the datums; gradients are all-reduced before
the optimizer step; node 0 alone writes checkpoints).
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["WorkerConfig", "ProcessWorker", "ThreadWorker", "worker_loop"]

READY = "__ready__"
_CLOSE = object()
FAILED_START = "__failed_start__"


@dataclass
class WorkerConfig:
    """Everything a worker needs to build engines (picklable: crosses the spawn boundary)."""

    account: str
    job_id: str
    model_config: dict[str, Any]
    checkpoint_dir: str
    lora_rank: int = 0
    device: str | None = None
    weight_precision: str | None = None
    forward_only: bool = False
    init_weights: str | None = None
    cross_job_dirs: dict[str, str] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1
    dist_init: str | None = None  # tcp://127.0.0.1:<port> when world_size > 1
    torch_threads: int | None = None
    gradient_accumulation_steps: int = 1
    restore_from: str | None = None  # a state checkpoint's directory, loaded into new models


class _Host:
    """The engines of one worker, keyed by model id."""

    def __init__(self, cfg: WorkerConfig) -> None:
        from drydock.emulator.shapes import LocalModelConfig

        self.cfg = cfg
        self.local = LocalModelConfig(**cfg.model_config)
        self.engines: dict[str, Any] = {}
        self.dist = None
        if cfg.world_size > 1:
            import torch
            import torch.distributed as dist

            cuda = torch.cuda.is_available() and (cfg.device or "cuda").startswith("cuda")
            backend = "nccl" if cuda and torch.cuda.device_count() >= cfg.world_size else "gloo"
            dist.init_process_group(
                backend, init_method=cfg.dist_init, rank=cfg.rank, world_size=cfg.world_size
            )
            self.dist, self.backend = dist, backend

    def handle(self, op: str, model_id: str, args: dict[str, Any]) -> Any:
        from pathlib import Path

        from drydock.trainer.engine import TrainerEngine, TrainerUserError

        if op == "create_model":
            self.engines[model_id] = TrainerEngine(
                self.local,
                lora_rank=args.get("lora_rank", self.cfg.lora_rank),
                seed=args.get("seed", 0),
                lora_alpha=args.get("lora_alpha", 32.0),
                device=self.cfg.device,
                weight_precision=self.cfg.weight_precision,
                forward_only=self.cfg.forward_only,
                checkpoint_dir=Path(self.cfg.checkpoint_dir),
                init_weights=self.cfg.init_weights,
                cross_job_dirs=_DirMap(self.cfg.cross_job_dirs),
                gradient_accumulation_steps=self.cfg.gradient_accumulation_steps,
            )
            if self.cfg.restore_from:
                # Each node takes back its own accumulated gradients.
                self.engines[model_id].restore_from(self.cfg.restore_from, node=self._node)
            return {"model_id": model_id}
        eng = self.engines.get(model_id)
        if eng is None:
            raise TrainerUserError(f"model {model_id!r} is not loaded on this trainer")
        lead = self.cfg.rank == 0
        if op in ("forward", "forward_backward"):
            data = args["data"]
            if not data:  # an empty shard is still one micro-batch on every node
                if op == "forward_backward":
                    eng.micro_batches += 1
                return None
            fn = eng.forward if op == "forward" else eng.forward_backward
            return fn(data, args["loss_fn"], args.get("loss_fn_config"))
        if op == "optim_step":
            if self.dist is not None and eng.update_due:  # a deferred step keeps local grads
                self._all_reduce_grads(eng)
            before = eng.step
            out = eng.optim_step(args["adam_params"], args.get("grad_accumulation_normalization"))
            return {"result": out, "step": eng.step, "applied": eng.step != before}
        if op == "save_state":
            # Every node sends the lead its accumulated gradients; only the lead writes.
            acc = self._gathered_accumulation(eng) if self.dist is not None else None
            if not lead:
                return None
            ck = eng.save_state(
                args["name"],
                args.get("data_position"),
                fail_midway=args.get("fail_midway", False),
                accumulation=acc,
            )
            return {"name": ck.name, "path": ck.path, "kind": ck.kind, "step": eng.step}
        if op == "save_for_sampler":
            if not lead:
                return None
            ck = eng.save_for_sampler(
                args["name"],
                args.get("checkpoint_type", "base"),
                fail_midway=args.get("fail_midway", False),
            )
            return {"name": ck.name, "path": ck.path, "kind": ck.kind, "step": eng.step}
        if op == "load_state":
            if "cross_job_dirs" in args:  # jobs of the account may have appeared since start
                eng._cross_job_dirs = _DirMap(args["cross_job_dirs"])
            eng.load_state(args["ref"], args.get("optimizer", False), node=self._node)
            return {"step": eng.step}
        if op == "load_adapter":
            return eng.load_adapter(args["location"])
        if op == "unload":
            self.engines.pop(model_id, None)
            return {}
        raise TrainerUserError(f"unknown trainer op {op!r}")

    def _all_reduce_grads(self, eng: Any) -> None:
        """Sum gradients (and the engine's loss-token/sequence counters) over the nodes."""
        import torch

        dist = self.dist
        assert dist is not None  # called only once a process group is up
        params = [p for p in _parameters(eng) if p.requires_grad]
        for p in params:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            buf = g.detach().cpu() if self.backend == "gloo" and g.is_cuda else g.detach()
            dist.all_reduce(buf)
            p.grad = buf.to(p.device) if buf.device != p.device else buf
        for name in _COUNTERS:
            if hasattr(eng, name):
                t = torch.tensor([float(getattr(eng, name))], dtype=torch.float64)
                dist.all_reduce(t)
                cur = getattr(eng, name)
                setattr(
                    eng, name, type(cur)(t.item()) if isinstance(cur, (int, float)) else t.item()
                )

    @property
    def _node(self) -> tuple[int, int]:
        return (self.cfg.rank, self.cfg.world_size)

    def _gathered_accumulation(self, eng: Any) -> Any:
        """Every node's accumulated gradients and counters, in rank order (each node's kept
        apart, so a resume sums them in the same order as the uninterrupted run)."""
        import torch

        if eng.micro_batches == 0:
            return None
        dist, world = self.dist, self.cfg.world_size
        assert dist is not None  # called only once a process group is up
        grads, counters = eng.accumulation()
        nodes: list[tuple[dict, dict]] = [({}, dict(counters)) for _ in range(world)]
        for n, p in eng.model.named_parameters():
            if not p.requires_grad:
                continue
            g = grads.get(n, torch.zeros_like(p)).detach()
            if self.backend == "gloo" and g.is_cuda:
                g = g.cpu()
            parts = [torch.empty_like(g) for _ in range(world)]
            dist.all_gather(parts, g.contiguous())
            for r in range(world):
                nodes[r][0][n] = parts[r]
        local = torch.tensor(
            [float(counters["tokens"]), float(counters["seqs"])], dtype=torch.float64
        )
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        for r in range(world):
            nodes[r][1]["tokens"], nodes[r][1]["seqs"] = (int(x) for x in parts[r].tolist())
        return nodes

    def close(self) -> None:
        if self.dist is not None:
            try:
                self.dist.destroy_process_group()
            except Exception:
                pass


# Names under which the engine may keep its gradient-accumulation counters.
_COUNTERS = ("_acc_tokens", "_acc_seqs")


class _DirMap:
    """job id -> checkpoint dir of a job of the same account (KeyError: not one of them)."""

    def __init__(self, dirs: dict[str, str]) -> None:
        self.dirs = dict(dirs)

    def __call__(self, job_id: str) -> Path:
        from pathlib import Path

        if job_id not in self.dirs:
            raise LookupError(f"no job {job_id!r} in this account")
        return Path(self.dirs[job_id])


def _parameters(eng: Any) -> list[Any]:
    for attr in ("model", "module", "net"):
        m = getattr(eng, attr, None)
        if m is not None and hasattr(m, "parameters"):
            return list(m.parameters())
    if hasattr(eng, "parameters"):
        return list(eng.parameters())
    raise RuntimeError("multi-node training needs the engine's parameters (engine.model)")


def worker_loop(
    cfg: WorkerConfig,
    recv: Callable[[], Any],
    send: Callable[[Any], None],
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Build the host, say ready, then run ops until a None message (or `stopping()`)."""
    from drydock.trainer.errors import TrainerUserError

    try:
        if cfg.torch_threads:
            import torch

            torch.set_num_threads(cfg.torch_threads)
        host = _Host(cfg)
    except Exception as e:
        send((FAILED_START, False, f"{type(e).__name__}: {e}"))
        return
    send((READY, True, {"pid": os.getpid(), "rank": cfg.rank}))
    try:
        while not stopping():
            msg = recv()
            if msg is None or stopping():
                break
            op_id, op, model_id, args = msg
            try:
                payload = host.handle(op, model_id, args)
                ok = True
            except TrainerUserError as e:
                ok, payload = False, ("user", str(e))
            except Exception as e:
                ok, payload = False, ("server", f"{type(e).__name__}: {e}")
                if os.environ.get("DRYDOCK_TRAINER_TRACE"):
                    traceback.print_exc()
            if stopping():
                break
            send((op_id, ok, payload))
    finally:
        host.close()


# ---------------------------------------------------------------------------- process mode
class _Term:
    """SIGTERM in the worker: leave now when idle, else after the op in hand (graceful)."""

    def __init__(self) -> None:
        self.flag = False
        self.busy = False


def process_main(fd: int) -> None:
    """Entry point of a worker process (see `worker_main.py`): config first, then ops."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    import drydock.trainer.engine  # noqa: F401 - warm up (torch) before the job is known

    try:
        cfg = conn.recv()
    except (EOFError, OSError):  # a spare that was never used
        os._exit(0)
    term = _Term()

    def on_term(signum, frame):
        term.flag = True
        if not term.busy:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def recv():
        term.busy = False
        if term.flag:
            raise SystemExit(0)
        msg = conn.recv()
        term.busy = True
        return msg

    try:
        worker_loop(cfg, recv, conn.send, lambda: term.flag)
    except (EOFError, OSError, SystemExit):
        pass
    os._exit(0)


# The worker's first lines, before anything is imported (`-m drydock.trainer.worker_main`
# would import the package, torch and all, first: seconds in which a killed server's child
# lived on). The kernel kills the worker when its spawning thread dies (PR_SET_PDEATHSIG).
_BOOT = (
    "import ctypes, os, runpy, signal\n"
    "try: ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "except Exception: pass\n"
    "if os.getppid() != int(os.environ['DRYDOCK_PARENT_PID']): os._exit(0)\n"
    "runpy.run_module('drydock.trainer.worker_main', run_name='__main__', alter_sys=True)\n"
)
_SPAWNER: Any = None
_SPAWNER_LOCK = threading.Lock()


def _spawner() -> Any:
    """The one thread that starts worker processes (it lives as long as this process)."""
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            from concurrent.futures import ThreadPoolExecutor

            _SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="drydock-spawner")
        return _SPAWNER


class ProcessWorker:
    """A worker in its own OS process: `drydock.trainer.worker_main <fd>` (after `_BOOT`), fed over a
    socketpair. (Not multiprocessing's spawn: that re-imports the parent's __main__, which breaks
    scripts without an `if __name__ == "__main__"` guard.)"""

    mode = "process"

    def __init__(self, cfg: WorkerConfig | None = None) -> None:
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        # Spawned from one long-lived thread: the child's parent-death signal (worker_main sets
        # PR_SET_PDEATHSIG) fires when its spawning *thread* exits, and request threads do.
        self.proc = (
            _spawner()
            .submit(
                subprocess.Popen,
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
                # idle OpenMP threads must not spin: they would steal the cores the server and the
                # client need between ops (measured: up to 3x slower steps on a 2-core machine)
                env={
                    **os.environ,
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                    "DRYDOCK_PARENT_PID": str(os.getpid()),
                },
            )
            .result()
        )  # worker_main exits with us
        theirs.close()
        self._conn = Connection(ours.detach())
        # A sender thread: callers (holding the control plane's lock) never block on a full pipe.
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._pump, daemon=True, name="drydock-trainer-send").start()
        if cfg is not None:
            self.assign(cfg)

    def assign(self, cfg: WorkerConfig) -> None:
        """Give a (pre-started, idle) process its job: the first message it reads."""
        self._outbox.put(cfg)

    def _pump(self) -> None:
        while True:
            msg = self._outbox.get()
            if msg is _CLOSE:
                return
            try:
                self._conn.send(msg)
            except (OSError, ValueError):  # the process is gone; the reader reports it
                return

    def send(self, msg: Any) -> None:
        self._outbox.put(msg)

    def recv(self) -> Any:
        return self._conn.recv()  # EOFError when the process is gone

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def join(self, timeout: float | None) -> bool:
        import subprocess

        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll()

    def close(self) -> None:
        self._outbox.put(_CLOSE)
        try:
            self._conn.close()
        except OSError:
            pass


class ThreadWorker:
    """A worker on a thread of this process (fast tests): stop = flag + drop."""

    mode = "thread"

    def __init__(self, cfg: WorkerConfig) -> None:
        self._in: queue.Queue = queue.Queue()
        self._out: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.exit_code: int | None = None
        self.thread = threading.Thread(
            target=self._run,
            args=(cfg,),
            daemon=True,
            name=f"drydock-trainer-{cfg.job_id}-{cfg.rank}",
        )
        self.thread.start()

    def _run(self, cfg: WorkerConfig) -> None:
        try:
            worker_loop(cfg, self._in.get, self._out.put, self._stop.is_set)
            self.exit_code = 0
        except BaseException as e:
            self.exit_code = 1
            self._out.put((FAILED_START, False, f"{type(e).__name__}: {e}"))
        finally:
            self._out.put(EOFError)

    def send(self, msg: Any) -> None:
        self._in.put(msg)

    def recv(self) -> Any:
        msg = self._out.get()
        if msg is EOFError:
            raise EOFError
        return msg

    def terminate(self) -> None:
        self._stop.set()
        self._in.put(None)

    kill = terminate

    def join(self, timeout: float | None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def close(self) -> None:
        self._out.put(EOFError)
