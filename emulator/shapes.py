"""Training-shape catalog, base models (each mapped to a small local torch config) and the
accelerator capacity pools jobs queue on."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from .errors import NotFound

__all__ = [
    "LocalModelConfig",
    "BaseModelEntry",
    "TrainingShapeVersion",
    "TrainingShape",
    "DeploymentShape",
    "CapacityPool",
    "ShapeCatalog",
    "CatalogEntries",
]


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
    name: str  # the name clients use, as the dialect that offers it spells it
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
    name: str  # as its dialect spells it; a version is addressed as `<name>/versions/<v>`
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
        """Resolve `<shape name>[/versions/<v>]`; version None = an unversioned ref."""
        name, sep, version = ref.partition("/versions/")
        for s in self.training_shapes:
            if s.name == name:
                return s, (s.version(version) if sep else None)
        raise NotFound(f"training shape {name!r} not found")

    @classmethod
    def empty(cls) -> ShapeCatalog:
        return cls(models=[], training_shapes=[], pools=[])

    @classmethod
    def merge(cls, parts: Iterable[ShapeCatalog]) -> ShapeCatalog:
        """One catalog of several dialects' entries (the first part's default region)."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(
            models=[m for p in parts for m in p.models],
            training_shapes=[s for p in parts for s in p.training_shapes],
            deployment_shapes=[d for p in parts for d in p.deployment_shapes],
            pools=[pool for p in parts for pool in p.pools],
            default_region=parts[0].default_region,
        )

    def pool(self, region: str, accelerator_type: str) -> CapacityPool | None:
        for p in self.pools:
            if p.region == region and p.accelerator_type == accelerator_type:
                return p
        return None


CatalogEntries = ShapeCatalog  # what a dialect offers by default: a (partial) catalog
