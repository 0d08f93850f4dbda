"""Tree (pytree) encoding for checkpoints, and restore against a template.

A tree is nested dicts / lists / tuples whose leaves are torch tensors or plain values (None, bool,
int, float, str). It is stored as one JSON document (structure + plain leaves, each node tagged so
that no user key can be mistaken for a marker) plus, when it holds tensors, one `torch.save` blob
of the tensor list. torch is never imported here at module import time: a tree of plain values
round-trips without it, and a value can only be a tensor if torch is already imported.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from typing import Any

from ._jobs_errors import CheckpointCorruptError, CheckpointStructureError, CheckpointTreeError

__all__ = [
    "encode_tree",
    "decode_tree",
    "restore_tree",
    "encode_tensors",
    "decode_tensors",
    "dumps",
]

# Node tags of the JSON encoding: ["d", [[key, node], ...]], ["l", [...]], ["t", [...]],
# ["v", plain], ["x", tensor_index, shape, dtype].
_DICT, _LIST, _TUPLE, _VALUE, _TENSOR = "d", "l", "t", "v", "x"


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _plain(value: Any) -> Any:
    """The JSON form of a plain leaf, or raise: bool before int, since bool is an int."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    raise TypeError


def _where(path: str) -> str:
    return path or "<root>"


def encode_tree(tree: Any) -> tuple[Any, list[Any]]:
    """Encode `tree` as (JSON-able node, tensors in index order). Raises CheckpointTreeError on an
    unsupported leaf or dict key before anything is written."""
    tensors: list[Any] = []

    def enc(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            items = []
            for key, child in node.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise CheckpointTreeError(
                        f"dict key {key!r} at {_where(path)} is not a str or int"
                    )
                items.append(
                    [key if isinstance(key, str) else int(key), enc(child, f"{path}/{key}")]
                )
            return [_DICT, items]
        if isinstance(node, (list, tuple)):
            tag = _TUPLE if isinstance(node, tuple) else _LIST
            return [tag, [enc(child, f"{path}/{i}") for i, child in enumerate(node)]]
        if _is_tensor(node):
            tensors.append(node)
            return [_TENSOR, len(tensors) - 1, list(node.shape), str(node.dtype)]
        try:
            return [_VALUE, _plain(node)]
        except TypeError:
            raise CheckpointTreeError(
                f"leaf at {_where(path)} has unsupported type {type(node).__name__}; leaves must "
                "be torch tensors, None, bool, int, float or str"
            ) from None

    return enc(tree, ""), tensors


def encode_tensors(tensors: list[Any]) -> bytes:
    """One `torch.save` blob of CPU copies; a view is cloned so its whole base storage is not
    written along with it."""
    import torch

    cpu = []
    for t in tensors:
        t = t.detach().to("cpu")
        if t.untyped_storage().nbytes() != t.numel() * t.element_size() or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
        cpu.append(t)
    buf = io.BytesIO()
    torch.save(cpu, buf)
    return buf.getvalue()


def decode_tensors(data: bytes) -> list[Any]:
    import torch

    try:
        tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on a damaged blob
        raise CheckpointCorruptError(f"tensor blob unreadable: {exc}") from exc
    if not isinstance(tensors, list):
        raise CheckpointCorruptError("tensor blob does not hold a list of tensors")
    return tensors


def _check_node(node: Any) -> tuple[str, Any]:
    if (
        not isinstance(node, list)
        or not node
        or node[0] not in (_DICT, _LIST, _TUPLE, _VALUE, _TENSOR)
    ):
        raise CheckpointCorruptError(f"bad tree node {node!r:.80}")
    return node[0], node


def decode_tree(node: Any, tensors: Callable[[], list[Any]]) -> Any:
    """Decode a whole encoded tree (no template); `tensors` loads the tensor list on demand."""
    tag, node = _check_node(node)
    if tag == _DICT:
        return {key: decode_tree(child, tensors) for key, child in node[1]}
    if tag == _LIST:
        return [decode_tree(child, tensors) for child in node[1]]
    if tag == _TUPLE:
        return tuple(decode_tree(child, tensors) for child in node[1])
    if tag == _TENSOR:
        return _tensor_at(tensors, node[1])
    return node[1]


def _tensor_at(tensors: Callable[[], list[Any]], index: int) -> Any:
    loaded = tensors()
    if not isinstance(index, int) or not 0 <= index < len(loaded):
        raise CheckpointCorruptError(f"tree names tensor #{index}; blob holds {len(loaded)}")
    return loaded[index]


class _Mismatch(Exception):
    """Internal: the saved subtree does not fit the template here."""


def restore_tree(template: Any, node: Any, tensors: Callable[[], list[Any]], partial: bool) -> Any:
    """Restore the encoded `node` into the shape of `template`.

    Strict (partial=False): containers, keys, lengths, leaf kinds and tensor shape/dtype must all
    match, else CheckpointStructureError naming the first mismatch. Partial: the result has
    exactly the template's structure; a template leaf is loaded where the checkpoint has a
    matching leaf at the same place, and a missing or mismatched subtree keeps the template's own
    value; saved entries the template does not name are ignored. Loaded tensors land on the
    template tensor's device.
    """

    def fail(path: str, why: str) -> Any:
        if partial:
            raise _Mismatch
        raise CheckpointStructureError(f"at {_where(path)}: {why}")

    def rest(tmpl: Any, saved: Any, path: str) -> Any:
        try:
            return walk(tmpl, saved, path)
        except _Mismatch:
            return tmpl  # partial mode: skip this subtree silently

    def walk(tmpl: Any, saved: Any, path: str) -> Any:
        tag, saved = _check_node(saved)
        if isinstance(tmpl, dict):
            if tag != _DICT:
                return fail(path, f"template has a dict, checkpoint has {_KIND[tag]}")
            children = {key: child for key, child in saved[1]}
            if not partial and set(children) != set(tmpl):
                missing = ", ".join(sorted(map(repr, set(tmpl) - set(children)))) or "none"
                extra = ", ".join(sorted(map(repr, set(children) - set(tmpl)))) or "none"
                return fail(path, f"dict keys differ: missing {missing}; unexpected {extra}")
            return {
                key: (rest(sub, children[key], f"{path}/{key}") if key in children else sub)
                for key, sub in tmpl.items()
            }
        if isinstance(tmpl, (list, tuple)):
            if tag not in (_LIST, _TUPLE):
                return fail(path, f"template has a sequence, checkpoint has {_KIND[tag]}")
            if len(saved[1]) != len(tmpl):
                return fail(
                    path, f"sequence length {len(tmpl)} in template, {len(saved[1])} in checkpoint"
                )
            out = [
                rest(sub, child, f"{path}/{i}")
                for i, (sub, child) in enumerate(zip(tmpl, saved[1], strict=True))
            ]
            return tuple(out) if isinstance(tmpl, tuple) else out
        if _is_tensor(tmpl):
            if tag != _TENSOR:
                return fail(path, f"template has a tensor, checkpoint has {_KIND[tag]}")
            shape, dtype = list(tmpl.shape), str(tmpl.dtype)
            if saved[2] != shape or saved[3] != dtype:
                return fail(
                    path, f"tensor {dtype}{shape} in template, {saved[3]}{saved[2]} in checkpoint"
                )
            return _tensor_at(tensors, saved[1]).to(tmpl.device)
        try:
            _plain(tmpl)
        except TypeError:
            raise CheckpointTreeError(
                f"template leaf at {_where(path)} has unsupported type {type(tmpl).__name__}"
            ) from None
        if tag != _VALUE:
            return fail(path, f"template has a plain value, checkpoint has {_KIND[tag]}")
        return saved[1]

    return rest(template, node, "") if partial else walk(template, node, "")


_KIND = {
    _DICT: "a dict",
    _LIST: "a list",
    _TUPLE: "a tuple",
    _VALUE: "a plain value",
    _TENSOR: "a tensor",
}


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys) so equal content gives equal files."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
