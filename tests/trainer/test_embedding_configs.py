"""Any embedding `loss_fn_config` a client can send is either accepted or refused as a
`TrainerUserError` (the future's "user" category): never another exception, which the gateway
would answer as a server error the client retries or reports as drydock's fault."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drydock.trainer import TrainerUserError
from drydock.trainer._embedding import OUTPUTS, POOLINGS, check_embedding_config

_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 8), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.sampled_from([*OUTPUTS, *POOLINGS, "projection", "logits"]),
    st.lists(st.integers(), max_size=2),
)
_KEYS = st.sampled_from(["output", "pooling", "num_queries", "temperature",
                         "num_extra_negatives", "margin", "beta"])


@settings(max_examples=400, deadline=None)
@given(config=st.dictionaries(_KEYS, _VALUES, max_size=6),
       loss_fn=st.sampled_from(["cross_entropy", "ppo", "nope"]),
       n=st.integers(1, 7), backward=st.booleans())
def test_a_config_is_accepted_or_a_user_error(config, loss_fn, n, backward):
    config.setdefault("output", "embedding")
    try:
        cfg = check_embedding_config(loss_fn, config, n, backward=backward)
    except TrainerUserError as e:
        assert str(e)  # says what is wrong
        return
    assert loss_fn == "cross_entropy" and cfg.output in OUTPUTS and cfg.pooling in POOLINGS
    assert set(config) <= {"output", "pooling", "num_queries", "temperature",
                           "num_extra_negatives"}
    if cfg.output == "contrastive_loss":
        assert backward and cfg.num_queries >= 1 and cfg.num_extra_negatives >= 0
        assert math.isfinite(cfg.temperature) and cfg.temperature > 0
        assert n == 2 * cfg.num_queries + cfg.num_extra_negatives


def test_contrastive_loss_is_refused_on_a_forward():
    cfg = {"output": "contrastive_loss", "num_queries": 1, "temperature": 0.1}
    assert check_embedding_config("cross_entropy", cfg, 2).num_queries == 1
    with pytest.raises(TrainerUserError, match="runs a backward"):
        check_embedding_config("cross_entropy", cfg, 2, backward=False)
