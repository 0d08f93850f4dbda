"""`python -m drydock.trainer.worker_main <fd>`: a trainer worker process (see worker.py)."""

import os
import sys
import threading
import time

from drydock.trainer.worker import process_main


def _die_with_parent() -> None:
    """Never outlive the server, even one killed with SIGKILL. (prctl's PR_SET_PDEATHSIG follows
    the *thread* that spawned us, and the server spawns from several: poll the parent instead.)"""
    parent = int(os.environ.get("DRYDOCK_PARENT_PID") or os.getppid())

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)
    threading.Thread(target=watch, daemon=True, name="drydock-parent-watch").start()


if __name__ == "__main__":
    _die_with_parent()
    process_main(int(sys.argv[1]))
