"""Training-shape catalog, base models (each mapped to a small local torch config) and the
accelerator capacity pools jobs queue on."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidArgument, NotFound
from drydock.wire.fireworks import SHAPE_REF_PATTERN, shape_ref_error

__all__ = [
    "LocalModelConfig",
    "BaseModelEntry",
    "TrainingShapeVersion",
    "TrainingShape",
    "DeploymentShape",
    "CapacityPool",
    "ShapeCatalog",
    "default_catalog",
    "SHAPE_REF_RE",
]

SHAPE_REF_RE = re.compile(SHAPE_REF_PATTERN)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalModelConfig(_Strict):
    """The small decoder-only torch model that stands in for a base model.

    `vocab_size` bounds the token ids a trainer accepts (inputs and targets must be in
    `[0, vocab_size)`). Every default base model uses 8192, not its real tokenizer's size
    (Qwen3 152064, Llama 3.1 128256): with the real size the tied embedding dominates and one
    AdamW step takes ~0.7 s on CPU (8192: ~15 ms). Feed real tokenizer output only with a catalog
    whose `local.vocab_size` is the real one.
    """

    vocab_size: int = Field(8192, gt=0)
    d_model: int = Field(32, gt=0)
    n_layers: int = Field(2, gt=0)
    n_heads: int = Field(2, gt=0)
    d_ff: int = Field(64, gt=0)
    max_seq_len: int = Field(512, gt=0)


class BaseModelEntry(_Strict):
    name: str  # accounts/fireworks/models/qwen3-8b
    display_name: str = ""
    moe: bool = False
    context_length: int = 32768
    parameter_count: int = 0
    local: LocalModelConfig = Field(default_factory=LocalModelConfig)


class TrainingShapeVersion(_Strict):
    version: str
    latest_validated: bool = False
    trainer_image_tag: str = "0.0.0-drydock"
    max_supported_context_length: int = 32768
    node_count: int = Field(1, ge=1)
    deployment_shape_version: str = ""
    deployment_image_tag: str = ""
    accelerator_type: str = "NVIDIA_H100_80GB"
    accelerator_count: int = Field(8, ge=1)
    base_model_weight_precision: str = "BFLOAT16"
    pipeline_parallelism: int = Field(1, ge=1)
    trainer_mode: str = "FULL_TRAINER"  # or LORA_TRAINER


class TrainingShape(_Strict):
    name: str  # accounts/fireworks/trainingShapes/qwen3-8b-128k-h200
    base_model: str
    versions: list[TrainingShapeVersion]

    def version(self, v: str) -> TrainingShapeVersion:
        for ver in self.versions:
            if ver.version == v:
                return ver
        raise NotFound(f"training shape version {self.name}/versions/{v} not found")

    def latest_validated(self) -> TrainingShapeVersion | None:
        validated = [v for v in self.versions if v.latest_validated]
        return validated[-1] if validated else None


class DeploymentShape(_Strict):
    name: str
    versions: list[str] = Field(default_factory=lambda: ["1"])


class CapacityPool(_Strict):
    region: str
    accelerator_type: str
    accelerators: int = Field(ge=0)


class ShapeCatalog(_Strict):
    models: list[BaseModelEntry]
    training_shapes: list[TrainingShape]
    deployment_shapes: list[DeploymentShape] = Field(default_factory=list)
    pools: list[CapacityPool]
    default_region: str = "US_VIRGINIA_1"

    def model(self, name: str) -> BaseModelEntry:
        for m in self.models:
            if m.name == name:
                return m
        raise NotFound(f"model {name!r} not found")

    def shape(self, ref: str) -> tuple[TrainingShape, TrainingShapeVersion | None]:
        """Resolve `accounts/a/trainingShapes/s[/versions/v]`; version None = unversioned ref."""
        m = SHAPE_REF_RE.match(ref)
        if not m:
            raise InvalidArgument(shape_ref_error(ref))
        base = f"accounts/{m.group(1)}/trainingShapes/{m.group(2)}"
        for s in self.training_shapes:
            if s.name == base:
                return s, (s.version(m.group(3)) if m.group(3) else None)
        raise NotFound(f"training shape {base!r} not found")

    def pool(self, region: str, accelerator_type: str) -> CapacityPool | None:
        for p in self.pools:
            if p.region == region and p.accelerator_type == accelerator_type:
                return p
        return None


def _shape(name: str, base: str, acc: str, count: int, ctx: int, mode: str = "FULL_TRAINER",
           nodes: int = 1) -> TrainingShape:
    ds = f"accounts/fireworks/deploymentShapes/{name}-deploy/versions/1"
    common = dict(accelerator_type=acc, accelerator_count=count, max_supported_context_length=ctx,
                  node_count=nodes, trainer_mode=mode, deployment_shape_version=ds,
                  deployment_image_tag="0.0.0-drydock-deploy")
    return TrainingShape(
        name=f"accounts/fireworks/trainingShapes/{name}",
        base_model=base,
        versions=[
            TrainingShapeVersion(version="1", trainer_image_tag="0.0.0-drydock.1", **common),
            TrainingShapeVersion(version="2", latest_validated=True,
                                 trainer_image_tag="0.0.0-drydock.2", **common),
        ],
    )


def default_catalog() -> ShapeCatalog:
    """The public names users write, each mapped to a tiny local model."""
    fw = "accounts/fireworks/models/"
    models = [
        BaseModelEntry(name=fw + "qwen3-8b", display_name="Qwen3 8B", context_length=131072,
                       parameter_count=8_000_000_000),
        BaseModelEntry(name=fw + "qwen3-0p6b", display_name="Qwen3 0.6B", context_length=32768,
                       parameter_count=600_000_000),
        BaseModelEntry(name=fw + "qwen3-30b-a3b", display_name="Qwen3 30B A3B", moe=True,
                       context_length=131072, parameter_count=30_000_000_000),
        BaseModelEntry(name=fw + "llama-v3p1-8b-instruct", display_name="Llama 3.1 8B Instruct",
                       context_length=131072, parameter_count=8_000_000_000),
    ]
    shapes = [
        _shape("qwen3-8b-128k-h200", fw + "qwen3-8b", "NVIDIA_H200_141GB", 8, 131072),
        _shape("ts-qwen3-8b-policy", fw + "qwen3-8b", "NVIDIA_B200_192GB", 8, 65536),
        _shape("qwen3-8b-lora-h100", fw + "qwen3-8b", "NVIDIA_H100_80GB", 1, 32768, "LORA_TRAINER"),
        _shape("qwen3-0p6b-32k-h100", fw + "qwen3-0p6b", "NVIDIA_H100_80GB", 1, 32768),
        _shape("qwen3-30b-a3b-128k-h200", fw + "qwen3-30b-a3b", "NVIDIA_H200_141GB", 8, 131072,
               nodes=2),
        _shape("llama-v3p1-8b-h100", fw + "llama-v3p1-8b-instruct", "NVIDIA_H100_80GB", 8, 131072),
    ]
    deploy = [DeploymentShape(name=f"accounts/fireworks/deploymentShapes/{s.name.rsplit('/', 1)[1]}-deploy")
              for s in shapes]
    region = "US_VIRGINIA_1"
    pools = [
        CapacityPool(region=region, accelerator_type="NVIDIA_H100_80GB", accelerators=64),
        CapacityPool(region=region, accelerator_type="NVIDIA_H200_141GB", accelerators=64),
        CapacityPool(region=region, accelerator_type="NVIDIA_B200_192GB", accelerators=32),
        CapacityPool(region="EU_ICELAND_1", accelerator_type="NVIDIA_H100_80GB", accelerators=16),
    ]
    return ShapeCatalog(models=models, training_shapes=shapes, deployment_shapes=deploy,
                        pools=pools, default_region=region)
