import pytest
import fireworks.training.sdk as fw
from drydock.emulator import Preempt
from drydock.trainer import thread_runtime

MODEL = "accounts/fireworks/models/qwen3-0p6b"
DATA = [fw.Datum(model_input=fw.ModelInput.from_ints([1, 2, 3, 4]),
                 loss_fn_inputs={"target_tokens": [2, 3, 4, 5], "weights": [1.0] * 4})]
ADAM = fw.AdamParams(learning_rate=0.01, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.0)


@pytest.mark.drydock(seed=1, runtime=thread_runtime, faults=[Preempt(job="sft", at_step=3)])
def test_training_loop_survives_preemption(fireworks_env, virtual_time):
    mgr, services = fireworks_env.manager(), []        # the real TrainerJobManager

    def connect(endpoint):
        services.append(fw.FiretitanServiceClient(base_url=endpoint.base_url, api_key=fireworks_env.api_key))
        return services[-1].create_training_client(base_model=MODEL, lora_rank=0)

    tc = connect(mgr.create_and_wait(fw.TrainerJobConfig(base_model=MODEL, requested_job_id="sft")))
    step, recoveries = 0, 0
    while step < 6:
        try:
            tc.forward_backward(DATA, "cross_entropy").result()
            tc.optim_step(ADAM).result()
            tc.save_state(f"step-{step + 1}").result()
            step += 1
        except Exception:                              # the preemption fails the in-flight call
            recoveries += 1
            tc = connect(mgr.reconnect_and_wait("sft"))  # FAILED -> :resume -> RUNNING, in virtual time
            tc.load_state_with_optimizer(f"step-{step}").result()
    assert (step, recoveries) == (6, 1)
    assert mgr.get("sft")["state"] == "JOB_STATE_RUNNING"
    for service in services:
        service.close()
