"""`python -m drydock.trainer.worker_main <fd>`: a trainer worker process (see worker.py)."""

import sys

from drydock.trainer.worker import process_main

if __name__ == "__main__":
    process_main(int(sys.argv[1]))
