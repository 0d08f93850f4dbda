"""Hypothesis strategies for `TrainerJobConfig`s (the real SDK's dataclass or drydock's own).

Valid configs are drawn against a `ShapeCatalog` (the default one unless given), so each one
names a base model, shape and accelerator pool the emulator knows: every one is accepted by
the emulator's create. Invalid configs start from a valid one and break exactly one rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

from hypothesis import strategies as st

from drydock.emulator import default_catalog
from drydock.emulator.shapes import BaseModelEntry, ShapeCatalog
from drydock.wire.fireworks import MAX_INACTIVITY_TIMEOUT_S, SHAPE_OWNED_FIELDS

__all__ = [
    "trainer_job_config_kwargs",
    "trainer_job_configs",
    "invalid_trainer_job_configs",
    "LAUNCH_PATHS",
    "default_config_class",
]

LAUNCH_PATHS = ("manual", "shape", "auto")
_AUTO_ACCELERATOR = "NVIDIA_H100_80GB"  # what the service picks when none is sent
_JOB_ID = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True)
_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_NAME_CHARS = st.characters(exclude_categories=_SURROGATES)  # anything JSON can carry
_MAX_INACTIVITY_S = MAX_INACTIVITY_TIMEOUT_S
_MODEL_NAME = re.compile(r"^accounts/[^/]+/models/[^/]+$")


def default_config_class() -> type:
    """The real `fireworks.training.sdk.TrainerJobConfig` when installed, else drydock's."""
    try:
        from fireworks.training.sdk import TrainerJobConfig
    except ImportError:
        from drydock.sdk import TrainerJobConfig
    return TrainerJobConfig


def _maker(config_class: type | Callable[..., Any] | None) -> Callable[[dict], Any]:
    if config_class is dict:
        return dict
    cls = config_class or default_config_class()
    return lambda kw: cls(**kw)


def _catalog(catalog: ShapeCatalog | None) -> ShapeCatalog:
    """The given catalog, else the default one cut to what a `TrainerJobConfig` can name (its
    base model is `accounts/<account>/models/<model>`; other dialects add models of their own)."""
    if catalog is not None:
        return catalog
    cat = default_catalog()
    models = [m for m in cat.models if _MODEL_NAME.match(m.name)]
    names = {m.name for m in models}
    return cat.model_copy(
        update={
            "models": models,
            "training_shapes": [t for t in cat.training_shapes if t.base_model in names],
        }
    )


def _learning_rates() -> st.SearchStrategy[float]:
    return st.sampled_from((1e-5, 1e-4, 3e-4, 5e-6, 1e-6)) | st.floats(
        1e-7, 1e-2, allow_nan=False, allow_infinity=False
    )


def _inactivity() -> st.SearchStrategy:
    secs = st.integers(1, _MAX_INACTIVITY_S)
    return st.none() | secs.map(lambda s: timedelta(seconds=s)) | secs.map(lambda s: f"{s}s")


@st.composite
def _manual(draw: st.DrawFn, cat: ShapeCatalog, model: BaseModelEntry) -> dict:
    # Every branch draws the same choices, so shrinking goes toward "leave it unset" rather
    # than toward whichever branch happens to draw less.
    pools = [p for p in cat.pools if p.accelerators > 0] or list(cat.pools)
    pool = draw(st.sampled_from(pools))
    room = max(1, pool.accelerators)
    count = draw(st.integers(1, min(8, room)))
    nodes = draw(st.integers(1, max(1, min(4, room // count))))
    ctx = draw(st.none() | st.sampled_from((2048, 4096, 8192, model.context_length)))
    say_region, say_type, say_count, say_nodes = (draw(st.booleans()) for _ in range(4))
    kw: dict[str, Any] = {}
    if pool.region != cat.default_region or say_region:
        kw["region"] = pool.region
    if pool.accelerator_type != _AUTO_ACCELERATOR or say_type:
        kw["accelerator_type"] = pool.accelerator_type
    if count > 1 or say_count:
        kw["accelerator_count"] = count
    if nodes > 1 or say_nodes:
        kw["node_count"] = nodes
    if ctx is not None:
        kw["max_context_length"] = min(ctx, model.context_length)
    return kw


@st.composite
def _shape(draw: st.DrawFn, cat: ShapeCatalog, model: BaseModelEntry) -> dict | None:
    shapes = [s for s in cat.training_shapes if s.base_model == model.name]
    if not shapes:
        return None
    shape = draw(st.sampled_from(shapes))
    refs = [f"{shape.name}/versions/{v.version}" for v in shape.versions]
    if shape.latest_validated() is not None:
        refs.insert(0, shape.name)  # follow latest validated: the recommended form
    return {"training_shape_ref": draw(st.sampled_from(refs))}


@st.composite
def _auto(draw: st.DrawFn, cat: ShapeCatalog, model: BaseModelEntry) -> dict | None:
    regions = sorted({p.region for p in cat.pools if p.accelerator_type == _AUTO_ACCELERATOR})
    if not regions:
        return None
    kw: dict[str, Any] = {"auto_select_training_shape": True}
    region, say_region = draw(st.sampled_from(regions)), draw(st.booleans())
    if region != cat.default_region or say_region:
        kw["region"] = region
    ctx = draw(st.none() | st.sampled_from((4096, model.context_length)))
    if ctx is not None:
        kw["max_context_length"] = ctx
    return kw


@st.composite
def trainer_job_config_kwargs(
    draw: st.DrawFn, catalog: ShapeCatalog | None = None, *, paths: Sequence[str] = LAUNCH_PATHS
) -> dict[str, Any]:
    """Keyword arguments of a valid `TrainerJobConfig` for `catalog` (default catalog)."""
    unknown = set(paths) - set(LAUNCH_PATHS)
    if unknown or not paths:
        raise ValueError(f"paths must be a non-empty subset of {LAUNCH_PATHS}, got {paths!r}")
    cat = _catalog(catalog)
    model = draw(st.sampled_from(cat.models))
    path = draw(st.sampled_from(tuple(paths)))
    infra = None
    if path == "shape":
        infra = draw(_shape(cat, model))
    elif path == "auto":
        infra = draw(_auto(cat, model))
    if infra is None:  # the asked-for path is impossible for this model/catalog
        infra = draw(_manual(cat, model))
    kw: dict[str, Any] = {"base_model": model.name}
    kw["lora_rank"] = draw(st.sampled_from((0, 8, 16, 32, 64, 4, 128)))
    kw["learning_rate"] = draw(_learning_rates())
    kw.update(infra)
    optional = {
        "display_name": st.text(_NAME_CHARS, min_size=1, max_size=63),
        "projection_head_dim": st.integers(0, 1024),
        "trainer_replica_count": st.integers(1, 4),
        "inactivity_timeout": _inactivity().filter(lambda v: v is not None),
        "requested_job_id": _JOB_ID,
        "custom_image_tag": st.from_regex(
            r"[0-9]\.[0-9]{1,2}\.[0-9]{1,2}-[a-z]{1,8}", fullmatch=True
        ),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            kw[name] = draw(strategy)
    for flag in ("forward_only", "preemptible"):
        if draw(st.booleans()):
            kw[flag] = True
    return kw


def trainer_job_configs(
    catalog: ShapeCatalog | None = None,
    *,
    config_class: type | Callable[..., Any] | None = None,
    paths: Sequence[str] = LAUNCH_PATHS,
) -> st.SearchStrategy:
    """Valid `TrainerJobConfig`s: the emulator (with `catalog`) accepts every one.

    `config_class`: the real SDK's class by default (drydock.sdk's when fireworks is not
    installed); `dict` for bare keyword arguments. `paths`: launch paths to draw from
    ("manual", "shape", "auto")."""
    return trainer_job_config_kwargs(catalog, paths=paths).map(_maker(config_class))


# ---------------------------------------------------------------- invalid configs
# Each breaks one rule. "client": the real SDK raises ValueError before it sends anything.
# "server": the real SDK sends it and the service answers 4xx (drydock.sdk may reject it first).
def _client_breakers(cat: ShapeCatalog) -> list[st.SearchStrategy[Callable[[dict], dict]]]:
    some_shape = (
        cat.training_shapes[0].name
        if cat.training_shapes
        else "accounts/fireworks/trainingShapes/any-shape"
    )

    def set_(**changes):
        return lambda kw: {**kw, **changes}

    def shape_with(field, value):
        return lambda kw: {**_strip_infra(kw), "training_shape_ref": some_shape, field: value}

    return [
        st.just(set_(base_model="")),
        st.text(_NAME_CHARS, min_size=64, max_size=100).map(lambda n: set_(display_name=n)),
        # < 1: both SDKs refuse it (fireworks-ai 1.2.28 refuses anything but 1; drydock.sdk
        # takes any positive count, as seed 000 documents).
        st.integers(-8, 0).map(lambda g: set_(gradient_accumulation_steps=g)),
        st.integers(-1024, -1).map(lambda d: set_(projection_head_dim=d)),
        st.integers(_MAX_INACTIVITY_S + 1, 10**6).map(
            lambda s: set_(inactivity_timeout=timedelta(seconds=s))
        ),
        st.integers(1, 10**5).map(lambda s: set_(inactivity_timeout=timedelta(seconds=-s))),
        st.sampled_from(("30m", "1h", "1800", "-5s", "abc")).map(
            lambda v: set_(inactivity_timeout=v)
        ),
        st.just(
            lambda kw: {
                **_strip_infra(kw),
                "training_shape_ref": some_shape,
                "auto_select_training_shape": True,
            }
        ),
        st.sampled_from(SHAPE_OWNED_FIELDS).flatmap(
            lambda f: (
                st.just("NVIDIA_H100_80GB") if f == "accelerator_type" else st.integers(1, 8)
            ).map(lambda v, f=f: shape_with(f, v))  # type: ignore[misc]
        ),
        st.sampled_from(
            ("qwen3-8b", "trainingShapes/x", "accounts/a/shapes/b", "accounts//trainingShapes/x")
        ).map(lambda r: lambda kw: {**_strip_infra(kw), "training_shape_ref": r}),
    ]


def _strip_infra(kw: dict) -> dict:
    drop = (*SHAPE_OWNED_FIELDS, "auto_select_training_shape", "training_shape_ref")
    return {k: v for k, v in kw.items() if k not in drop}


def _server_breakers(cat: ShapeCatalog) -> list[st.SearchStrategy[Callable[[dict], dict]]]:
    known = {m.name for m in cat.models}
    out = [
        st.from_regex(r"[a-z][a-z0-9-]{2,20}", fullmatch=True)
        .map(lambda s: f"accounts/fireworks/models/no-such-{s}")
        .filter(lambda n: n not in known)
        .map(lambda n: lambda kw: {**kw, "base_model": n}),
        st.sampled_from((0.0, -1e-5, -1.0)).map(lambda lr: lambda kw: {**kw, "learning_rate": lr}),
        st.integers(-64, -1).map(lambda r: lambda kw: {**kw, "lora_rank": r}),
        st.integers(-4096, 0).map(lambda c: lambda kw: {**kw, "max_context_length": c}),
        st.sampled_from(("accelerator_count", "node_count")).flatmap(
            lambda f: st.integers(-8, -1).map(lambda v, f=f: lambda kw: {**kw, f: v})  # type: ignore[misc]
        ),
        st.sampled_from(("NVIDIA_TPU_V9", "AMD_MI300X_192GB", "nvidia_h100")).map(
            lambda a: lambda kw: {**kw, "accelerator_type": a}
        ),
        st.from_regex(r"[A-Z_][A-Za-z0-9_]{0,10}|[a-z0-9]{64,70}|-[a-z]{1,5}", fullmatch=True).map(
            lambda j: lambda kw: {**kw, "requested_job_id": j}
        ),
        st.from_regex(r"[a-z][a-z0-9-]{2,20}", fullmatch=True).map(
            lambda s: (
                lambda kw: {
                    **_strip_infra(kw),
                    "training_shape_ref": f"accounts/fireworks/trainingShapes/nope-{s}",
                }
            )
        ),
    ]
    other = [(s, m.name) for s in cat.training_shapes for m in cat.models if m.name != s.base_model]
    if other:
        out.append(
            st.sampled_from(other).map(
                lambda sm: (
                    lambda kw: {
                        **_strip_infra(kw),
                        "base_model": sm[1],
                        "training_shape_ref": sm[0].name
                        + ("" if sm[0].latest_validated() else "/versions/1"),
                    }
                )
            )
        )
    if cat.training_shapes:
        out.append(
            st.sampled_from(cat.training_shapes).map(
                lambda s: (
                    lambda kw: {
                        **_strip_infra(kw),
                        "base_model": s.base_model,
                        "training_shape_ref": f"{s.name}/versions/999",
                    }
                )
            )
        )
    return out


def invalid_trainer_job_configs(
    catalog: ShapeCatalog | None = None,
    *,
    stage: str | None = None,
    config_class: type | Callable[..., Any] | None = None,
) -> st.SearchStrategy:
    """Configs that must be rejected, each breaking exactly one rule of a valid config.

    `stage="client"`: the real SDK's `create` raises ValueError before any request.
    `stage="server"`: it passes the SDK's checks and the service answers 400/404 (drydock's
    own SDK may already reject these locally). `None`: either."""
    if stage not in (None, "client", "server"):
        raise ValueError(f"stage must be 'client', 'server' or None, got {stage!r}")
    cat = _catalog(catalog)
    breakers = ([] if stage == "server" else _client_breakers(cat)) + (
        [] if stage == "client" else _server_breakers(cat)
    )
    valid = trainer_job_config_kwargs(cat, paths=("manual",))
    return (
        st.tuples(valid, st.one_of(breakers)).map(lambda vb: vb[1](vb[0])).map(_maker(config_class))
    )
