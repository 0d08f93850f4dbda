"""A hypothesis strategy for whole `ShapeCatalog`s that the emulator can run jobs from.

Every generated catalog is self-consistent: model and shape names are unique, each shape names
a model of the catalog, each shape's accelerator type has a pool in the default region big
enough for one job of that shape, and each base model is small (a few-thousand-parameter
torch config) so a trainer could actually run it.
"""

from __future__ import annotations

from hypothesis import strategies as st

from drydock.emulator.shapes import (
    BaseModelEntry,
    CapacityPool,
    DeploymentShape,
    LocalModelConfig,
    ShapeCatalog,
    TrainingShape,
    TrainingShapeVersion,
)

__all__ = ["shape_catalogs", "ACCELERATOR_TYPES", "REGIONS"]

ACCELERATOR_TYPES = (
    "NVIDIA_H100_80GB",
    "NVIDIA_H200_141GB",
    "NVIDIA_B200_192GB",
    "NVIDIA_A100_80GB",
)
REGIONS = ("US_VIRGINIA_1", "EU_ICELAND_1", "US_OHIO_1")
_SLUG = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@st.composite
def _local_model(draw: st.DrawFn) -> LocalModelConfig:
    heads = draw(st.sampled_from((1, 2, 4)))
    return LocalModelConfig(
        vocab_size=draw(st.integers(16, 512)),
        d_model=heads * draw(st.integers(2, 8)),
        n_layers=draw(st.integers(1, 3)),
        n_heads=heads,
        d_ff=draw(st.integers(8, 64)),
        max_seq_len=draw(st.integers(16, 256)),
    )


@st.composite
def shape_catalogs(
    draw: st.DrawFn, *, max_models: int = 3, max_shapes_per_model: int = 2
) -> ShapeCatalog:
    """Random but runnable `ShapeCatalog`s (use with `trainer_job_configs(catalog=...)`)."""
    if max_models < 1 or max_shapes_per_model < 1:
        raise ValueError("max_models and max_shapes_per_model must be >= 1")
    default_region = draw(st.sampled_from(REGIONS))
    slugs = draw(st.lists(_SLUG, min_size=1, max_size=max_models, unique=True))
    models = [
        BaseModelEntry(
            name=f"accounts/fireworks/models/m-{s}",
            display_name=f"Model {s}",
            moe=draw(st.booleans()),
            context_length=draw(st.sampled_from((4096, 32768, 131072))),
            parameter_count=draw(st.integers(0, 10**11)),
            local=draw(_local_model()),
        )
        for s in slugs
    ]
    shapes: list[TrainingShape] = []
    demand: dict[str, int] = {}
    for model, slug in zip(models, slugs, strict=False):
        for i in range(draw(st.integers(0, max_shapes_per_model))):
            acc = draw(st.sampled_from(ACCELERATOR_TYPES))
            count = draw(st.sampled_from((1, 2, 4, 8)))
            nodes = draw(st.integers(1, 2))
            ctx = draw(st.sampled_from((4096, 8192, 32768, model.context_length)))
            mode = draw(st.sampled_from(("FULL_TRAINER", "LORA_TRAINER")))
            n_versions = draw(st.integers(1, 3))
            validated = draw(st.integers(0, n_versions))  # 0 = no validated version
            versions = [
                TrainingShapeVersion(
                    version=str(v),
                    latest_validated=(v == validated),
                    accelerator_type=acc,
                    accelerator_count=count,
                    node_count=nodes,
                    max_supported_context_length=ctx,
                    trainer_mode=mode,
                )
                for v in range(1, n_versions + 1)
            ]
            shapes.append(
                TrainingShape(
                    name=f"accounts/fireworks/trainingShapes/s-{slug}-{i}",
                    base_model=model.name,
                    versions=versions,
                )
            )
            demand[acc] = max(demand.get(acc, 0), count * nodes)
    pools = [
        CapacityPool(
            region=default_region, accelerator_type=acc, accelerators=need * draw(st.integers(1, 4))
        )
        for acc, need in sorted(demand.items())
    ]
    # Extra pools (other regions/types) so manual launches have somewhere else to go.
    for region in draw(st.lists(st.sampled_from(REGIONS), max_size=2, unique=True)):
        for acc in draw(
            st.lists(st.sampled_from(ACCELERATOR_TYPES), min_size=1, max_size=2, unique=True)
        ):
            if all((p.region, p.accelerator_type) != (region, acc) for p in pools):
                pools.append(
                    CapacityPool(
                        region=region, accelerator_type=acc, accelerators=draw(st.integers(1, 64))
                    )
                )
    if not any(p.region == default_region for p in pools):
        pools.append(
            CapacityPool(
                region=default_region,
                accelerator_type="NVIDIA_H100_80GB",
                accelerators=draw(st.integers(1, 64)),
            )
        )
    deploy = [
        DeploymentShape(
            name=f"accounts/fireworks/deploymentShapes/{s.name.rsplit('/', 1)[1]}-deploy"
        )
        for s in shapes
    ]
    return ShapeCatalog(
        models=models,
        training_shapes=shapes,
        deployment_shapes=deploy,
        pools=pools,
        default_region=default_region,
    )
