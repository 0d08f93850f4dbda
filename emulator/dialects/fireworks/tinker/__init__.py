"""The Tinker futures protocol of the Fireworks training client, over a neutral trainer.

`futures` (records and the long-poll), `sequencer` (per-model seq_id ordering with gap
timeouts), `results` (trainer answers to wire bodies) and `gateway` (sessions, models and
incarnation-scoped ids of one job, on the runtime's `JobRunner`).
"""

from .futures import FutureRecord, Gone, long_poll
from .gateway import REJECTED, TinkerGateway
from .results import answer_body, finite_output, sanitize_optim
from .sequencer import GapExpired, Sequencer

__all__ = ["REJECTED", "FutureRecord", "Gone", "long_poll", "TinkerGateway", "answer_body", "finite_output",
           "sanitize_optim", "Sequencer", "GapExpired"]
