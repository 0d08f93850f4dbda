"""The Fireworks catalog drydock offers by default: the public model and training-shape names
users write, each mapped to a tiny local model, and the accelerator pools jobs queue on."""

from __future__ import annotations

from ...shapes import (
    BaseModelEntry,
    CapacityPool,
    DeploymentShape,
    ShapeCatalog,
    TrainingShape,
    TrainingShapeVersion,
)

__all__ = ["fireworks_catalog", "PUBLIC_ACCOUNT", "SERVERLESS_RUNS", "serverless_pool"]

PUBLIC_ACCOUNT = "fireworks"  # its models and shapes are readable by every account
# Concurrent serverless training sessions per base model: the shared trainer pool's size.
SERVERLESS_RUNS = 2


def serverless_pool(base_model: str) -> str:
    """The accelerator type naming a base model's serverless trainer pool (one slot per
    concurrent session), in the catalog's default region."""
    return "SERVERLESS:" + base_model.rsplit("/", 1)[-1]


def _shape(
    name: str, base: str, acc: str, count: int, ctx: int, mode: str = "FULL_TRAINER", nodes: int = 1
) -> TrainingShape:
    ds = f"accounts/fireworks/deploymentShapes/{name}-deploy/versions/1"
    common = dict(
        accelerator_type=acc,
        accelerator_count=count,
        max_supported_context_length=ctx,
        node_count=nodes,
        trainer_mode=mode,
        deployment_shape_version=ds,
        deployment_image_tag="0.0.0-drydock-deploy",
    )
    return TrainingShape(
        name=f"accounts/fireworks/trainingShapes/{name}",
        base_model=base,
        versions=[
            TrainingShapeVersion(version="1", trainer_image_tag="0.0.0-drydock.1", **common),
            TrainingShapeVersion(
                version="2", latest_validated=True, trainer_image_tag="0.0.0-drydock.2", **common
            ),
        ],
    )


def fireworks_catalog() -> ShapeCatalog:
    """The public names users write, each mapped to a tiny local model."""
    fw = "accounts/fireworks/models/"
    models = [
        BaseModelEntry(
            name=fw + "qwen3-8b",
            display_name="Qwen3 8B",
            context_length=131072,
            parameter_count=8_000_000_000,
        ),
        BaseModelEntry(
            name=fw + "qwen3-0p6b",
            display_name="Qwen3 0.6B",
            context_length=32768,
            parameter_count=600_000_000,
        ),
        BaseModelEntry(
            name=fw + "qwen3-30b-a3b",
            display_name="Qwen3 30B A3B",
            moe=True,
            context_length=131072,
            parameter_count=30_000_000_000,
        ),
        BaseModelEntry(
            name=fw + "llama-v3p1-8b-instruct",
            display_name="Llama 3.1 8B Instruct",
            context_length=131072,
            parameter_count=8_000_000_000,
        ),
    ]
    shapes = [
        _shape("qwen3-8b-128k-h200", fw + "qwen3-8b", "NVIDIA_H200_141GB", 8, 131072),
        _shape("ts-qwen3-8b-policy", fw + "qwen3-8b", "NVIDIA_B200_192GB", 8, 65536),
        _shape("qwen3-8b-lora-h100", fw + "qwen3-8b", "NVIDIA_H100_80GB", 1, 32768, "LORA_TRAINER"),
        _shape("qwen3-0p6b-32k-h100", fw + "qwen3-0p6b", "NVIDIA_H100_80GB", 1, 32768),
        _shape(
            "qwen3-30b-a3b-128k-h200", fw + "qwen3-30b-a3b", "NVIDIA_H200_141GB", 8, 131072, nodes=2
        ),
        _shape("llama-v3p1-8b-h100", fw + "llama-v3p1-8b-instruct", "NVIDIA_H100_80GB", 8, 131072),
    ]
    deploy = [
        DeploymentShape(
            name=f"accounts/fireworks/deploymentShapes/{s.name.rsplit('/', 1)[1]}-deploy"
        )
        for s in shapes
    ]
    region = "US_VIRGINIA_1"
    pools = [
        CapacityPool(region=region, accelerator_type="NVIDIA_H100_80GB", accelerators=64),
        CapacityPool(region=region, accelerator_type="NVIDIA_H200_141GB", accelerators=64),
        CapacityPool(region=region, accelerator_type="NVIDIA_B200_192GB", accelerators=32),
        CapacityPool(region="EU_ICELAND_1", accelerator_type="NVIDIA_H100_80GB", accelerators=16),
        *(
            CapacityPool(
                region=region,
                accelerator_type=serverless_pool(m.name),
                accelerators=SERVERLESS_RUNS,
            )
            for m in models
        ),
    ]
    return ShapeCatalog(
        models=models,
        training_shapes=shapes,
        deployment_shapes=deploy,
        pools=pools,
        default_region=region,
    )
