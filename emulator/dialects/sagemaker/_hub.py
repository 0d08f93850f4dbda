"""The built-in `SageMakerPublicHub`: one hub-content document per catalog model, with LLMFT-shaped
recipes (SFT/DPO/RLVR/RLAIF, LoRA and full) whose override-param specs and templates live in S3.

The SDK reads the document (RecipeCollection), then GETs the spec JSON and the template YAML from
S3, so both are seeded into moto's S3 when the endpoint starts. Templates are LLMFT-shaped
(`run.model_type: llm_finetuning_aws` + `training_config`): any other shape sends the SDK to
`git clone` recipes from GitHub (spec §1.3.4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PUBLIC_HUB",
    "HUB_BUCKET",
    "HubModel",
    "public_models",
    "recipe_objects",
    "hub_content_document",
    "TECHNIQUES",
    "SMTJ_IMAGE",
    "INSTANCE_POOLS",
]

PUBLIC_HUB = "SageMakerPublicHub"
HUB_BUCKET = "drydock-sagemaker-public-hub"
TECHNIQUES = ("SFT", "DPO", "RLVR", "RLAIF")
SMTJ_IMAGE = "763104351884.dkr.ecr.us-west-2.amazonaws.com/drydock-llmft:latest"


@dataclass(frozen=True)
class HubModel:
    """A hub model name users write, backed by a core catalog model (its tiny torch stand-in)."""

    name: str
    display_name: str
    catalog_model: str
    gated: bool = False
    sequence_length: str = "4K"
    keywords: tuple[str, ...] = field(default=())


def public_models() -> list[HubModel]:
    return [
        HubModel(
            "huggingface-llm-qwen3-0-6b", "Qwen3 0.6B", "sagemaker/huggingface-llm-qwen3-0-6b"
        ),
        HubModel("huggingface-llm-qwen3-8b", "Qwen3 8B", "sagemaker/huggingface-llm-qwen3-8b"),
        HubModel(
            "meta-textgeneration-llama-3-1-8b-instruct",
            "Llama 3.1 8B Instruct",
            "sagemaker/meta-textgeneration-llama-3-1-8b-instruct",
            gated=True,
        ),
    ]


# Capacity pools by instance type (serverless jobs draw from "serverless").
INSTANCE_POOLS = {
    "serverless": 64,
    "ml.g5.2xlarge": 8,
    "ml.g5.12xlarge": 8,
    "ml.p4d.24xlarge": 4,
    "ml.p5.48xlarge": 4,
}


# Override-param specs: {name: {type, default, min, max, enum, required}} (spec §3 step 4).
_COMMON = {
    "name": {"type": "string", "default": "drydock-job"},
    "model_name_or_path": {"type": "string", "default": ""},
    "data_path": {"type": "string", "default": ""},
    "validation_data_path": {"type": "string", "default": ""},
    "output_path": {"type": "string", "default": "/opt/ml/model"},
    "data_s3_path": {"type": "string", "default": ""},
    "output_s3_path": {"type": "string", "default": ""},
    "mlflow_tracking_uri": {"type": "string", "default": ""},
    "mlflow_experiment_name": {"type": "string", "default": ""},
    "mlflow_run_name": {"type": "string", "default": ""},
    "learning_rate": {"type": "float", "default": 0.0002, "min": 0.0, "max": 1.0},
    "global_batch_size": {"type": "integer", "default": 4, "min": 1, "max": 256},
    "max_epochs": {"type": "integer", "default": 1, "min": 1, "max": 100},
    "max_steps": {"type": "integer", "default": 8, "min": 1, "max": 100000},
    "save_steps": {"type": "integer", "default": 4, "min": 1, "max": 100000},
    "max_length": {"type": "integer", "default": 64, "min": 8, "max": 4096},
    "seed": {"type": "integer", "default": 0, "min": 0},
}
_TECH_EXTRA: dict[str, dict[str, Any]] = {
    "SFT": {},
    "DPO": {"beta": {"type": "float", "default": 0.1, "min": 0.0, "max": 10.0}},
    "RLVR": {
        "num_generations": {"type": "integer", "default": 4, "min": 2, "max": 64},
        "max_response_length": {"type": "integer", "default": 8, "min": 1, "max": 1024},
        "reward_lambda_arn": {"type": "string", "default": ""},
    },
    "RLAIF": {
        "num_generations": {"type": "integer", "default": 4, "min": 2, "max": 64},
        "max_response_length": {"type": "integer", "default": 8, "min": 1, "max": 1024},
        "judge_model_id": {"type": "string", "default": ""},
        "judge_prompt_template": {"type": "string", "default": ""},
    },
}
_LORA = {
    "lora_rank": {"type": "integer", "default": 8, "min": 1, "max": 256},
    "lora_alpha": {"type": "integer", "default": 32, "min": 1, "max": 1024},
}


def _spec(technique: str, lora: bool) -> dict:
    return {**_COMMON, **_TECH_EXTRA[technique], **(_LORA if lora else {})}


def _template(technique: str, spec: dict) -> str:
    """An LLMFT-shaped recipe: each spec key is a `{{key}}` placeholder the SDK renders."""
    infra = ("name", "model_name_or_path", "data_s3_path", "output_s3_path")
    mlflow = ("mlflow_tracking_uri", "mlflow_experiment_name", "mlflow_run_name")
    datasets = ("data_path", "validation_data_path")
    args = [k for k in spec if k not in infra + mlflow + datasets]
    lines = ["run:"]
    lines += [f'  {k}: "{{{{{k}}}}}"' for k in infra]
    lines += [
        "  model_type: llm_finetuning_aws",
        "training_config:",
        f"  technique: {technique}",
        "  mlflow:",
    ]
    lines += [f'    {k.removeprefix("mlflow_")}: "{{{{{k}}}}}"' for k in mlflow]
    lines += [
        "  datasets:",
        '    train_files: "{{data_path}}"',
        '    val_files: "{{validation_data_path}}"',
        "  training_args:",
    ]
    for k in args:
        q = spec[k]["type"] == "string"
        lines.append(f'    {k}: "{{{{{k}}}}}"' if q else f"    {k}: {{{{{k}}}}}")
    return "\n".join(lines) + "\n"


def _key(model: HubModel, technique: str, lora: bool, what: str) -> str:
    return f"recipes/{model.name}/{technique.lower()}-{'lora' if lora else 'full'}/{what}"


def recipe_objects(model: HubModel) -> dict[str, bytes]:
    """S3 key -> body for every recipe of `model` (bucket HUB_BUCKET)."""
    out: dict[str, bytes] = {}
    for technique in TECHNIQUES:
        for lora in (True, False):
            spec = _spec(technique, lora)
            out[_key(model, technique, lora, "override_params.json")] = json.dumps(
                spec, sort_keys=True
            ).encode()
            out[_key(model, technique, lora, "recipe.yaml")] = _template(technique, spec).encode()
    out[f"models/{model.name}/weights/config.json"] = json.dumps(
        {"catalog_model": model.catalog_model}
    ).encode()
    return out


def hub_content_document(model: HubModel) -> dict:
    recipes = []
    for technique in TECHNIQUES:
        for lora in (True, False):
            recipes.append(
                {
                    "Name": f"{model.name}-{technique.lower()}-{'lora' if lora else 'full'}",
                    "DisplayName": f"{model.display_name} {technique} {'LoRA' if lora else 'full'}",
                    "Type": "FineTuning",
                    "CustomizationTechnique": technique,
                    "Peft": "LORA" if lora else None,
                    "IsSubscriptionModel": False,
                    "SequenceLength": model.sequence_length,
                    "SmtjRecipeTemplateS3Uri": f"s3://{HUB_BUCKET}/{_key(model, technique, lora, 'recipe.yaml')}",
                    "SmtjOverrideParamsS3Uri": f"s3://{HUB_BUCKET}/{_key(model, technique, lora, 'override_params.json')}",
                    "SmtjImageUri": SMTJ_IMAGE,
                }
            )
    return {
        "GatedBucket": model.gated,
        "TrainingArtifactUri": f"s3://{HUB_BUCKET}/models/{model.name}/weights/",
        "RecipeCollection": recipes,
        "DrydockCatalogModel": model.catalog_model,
    }
