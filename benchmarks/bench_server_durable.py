"""Server throughput with durable state (`drydock serve --data-dir`) against the in-memory server.

Mixed control-plane traffic over loopback HTTP, sequential, keep-alive: per cycle a create, two
GETs, a list page (pageSize 20) and, every other cycle, a delete; writes are synced to SQLite
(WAL) before each response starts. Both servers are server-mode emulators on a uvicorn
ServerThread in this process, measured alternately in the same run (best of --rounds).
Target: durable >= 0.7x in-memory.

    .venv/bin/python benchmarks/bench_server_durable.py [--cycles 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import httpx

from drydock.emulator import Emulator

TARGET = 0.7
J = "/v1/accounts/drydock/rlorTrainerJobs"
BODY = {"trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-0p6b"}}


def rps(durable: bool, cycles: int, tag: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        emu = Emulator(server_mode=True, data_dir=d, durable=durable)
        try:
            with emu.serve() as server, httpx.Client(
                    base_url=server.url, headers={"X-Api-Key": emu.api_key}) as http:
                n = 0
                t0 = time.perf_counter()
                for i in range(cycles):
                    job = f"{tag}-{i}"
                    assert http.post(f"{J}?skipValidations=true&rlorTrainerJobId={job}",
                                     json=BODY).status_code == 200
                    http.get(f"{J}/{job}")
                    http.get(f"{J}/{job}")
                    http.get(J, params={"pageSize": 20})
                    n += 4
                    if i % 2:
                        assert http.delete(f"{J}/{job}").status_code == 200
                        n += 1
                return n / (time.perf_counter() - t0)
        finally:
            emu.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    mem, dur = [], []
    for r in range(args.rounds):
        mem.append(rps(False, args.cycles, f"m{r}"))
        dur.append(rps(True, args.cycles, f"d{r}"))
    best_mem, best_dur = max(mem), max(dur)
    ratio = best_dur / best_mem
    print(f"in-memory : {best_mem:8.0f} requests/s  (rounds: {', '.join(f'{x:.0f}' for x in mem)})")
    print(f"--data-dir: {best_dur:8.0f} requests/s  (rounds: {', '.join(f'{x:.0f}' for x in dur)})")
    print(f"ratio     : {ratio:.2f}x  (target >= {TARGET}x) -> {'PASS' if ratio >= TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
