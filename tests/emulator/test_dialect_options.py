"""Dialect options: the settings a user may set by name (`Dialect.configure`,
`configured_dialects`, a scenario's `dialects:`), each checked against its default's type."""

from __future__ import annotations

import pytest

from drydock.emulator import Emulator, configured_dialects, default_dialects
from drydock.emulator.dialects.fireworks.dialect import FireworksDialect


def test_configure_sets_declared_options_only():
    d = FireworksDialect().configure(rdma_weight_sync=True, serving_device="cpu")
    assert d.rdma_weight_sync is True and d.serving_device == "cpu"
    assert FireworksDialect.rdma_weight_sync is False  # the class default is untouched
    with pytest.raises(ValueError, match=r"no option 'rdma_weight_synk' \(did you mean "
                                         r"'rdma_weight_sync'\?\)"):
        FireworksDialect().configure(rdma_weight_synk=True)
    with pytest.raises(ValueError, match="no option 'name'"):  # an attribute, not an option
        FireworksDialect().configure(name="other")


@pytest.mark.parametrize("value", [1, "yes", None])
def test_a_switch_takes_a_bool_only(value):
    with pytest.raises(ValueError, match="takes a bool"):
        FireworksDialect().configure(rdma_weight_sync=value)


def test_configured_dialects_are_the_defaults_with_options_set():
    plain = {d.name: d for d in default_dialects()}
    dialects = {d.name: d for d in configured_dialects({"fireworks": {"rdma_weight_sync": True}})}
    assert dialects.keys() == plain.keys()
    assert dialects["fireworks"].rdma_weight_sync is True
    assert plain["fireworks"].rdma_weight_sync is False  # fresh instances each call
    with pytest.raises(ValueError, match=r"no dialect 'firework' \(did you mean 'fireworks'\?\)"):
        configured_dialects({"firework": {}})


def _weight_sync_answer(emu: Emulator) -> tuple[int, str]:
    from drydock.emulator.control_plane import JobSpec

    with emu:
        emu.control_plane.create_job(emu.account_id, "plain",
                                     JobSpec(base_model="accounts/fireworks/models/qwen3-0p6b"),
                                     dialect="fireworks")
        emu.advance(60)
        r = emu.client().post(
            f"/training/v1/rlorTrainerJobs/{emu.account_id}/plain/api/v1/weight_sync",
            json={"model_id": "m", "seq_id": 1})
        return r.status_code, r.json()["message"]


def test_an_option_reaches_the_mounted_dialect():
    from drydock.trainer import thread_runtime

    # the trainer serves RDMA weight_sync only where the option is on
    off = _weight_sync_answer(Emulator(seed=1, runtime=thread_runtime(torch_threads=1)))
    on = _weight_sync_answer(Emulator(
        seed=1, runtime=thread_runtime(torch_threads=1),
        dialects=configured_dialects({"fireworks": {"rdma_weight_sync": True}})))
    assert off[0] == 404 and "not enabled" in off[1]
    assert on == (404, "model 'm' not found on job plain")  # past the switch: model checked
