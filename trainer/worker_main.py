"""`python -m drydock.trainer.worker_main <fd>`: a trainer worker process (see worker.py)."""

import os
import sys
import threading
import time


def _die_with_parent() -> None:
    """Never outlive the server, even one killed with SIGKILL: a parent-death signal, and a
    thread polling the parent as a second line (it cannot run while an import holds the GIL,
    hence the signal). Set up before torch is imported: that import alone can take seconds."""
    parent = int(os.environ.get("DRYDOCK_PARENT_PID") or os.getppid())
    try:  # Linux: the kernel kills us when the spawning thread (a long-lived one) dies
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the poll below does it, a little later
        pass
    if os.getppid() != parent:  # it died before the signal was set
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="drydock-parent-watch").start()


if __name__ == "__main__":
    _die_with_parent()
    from drydock.trainer.worker import process_main

    process_main(int(sys.argv[1]))
