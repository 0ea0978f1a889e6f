"""What a TensorFlow engine's GraphDef (``saved_model.pb`` of a ``*_tensorflow`` zip) says
that its variables do not: the number of attention heads, the feed-forward activation, the
LayerNorm epsilon and, for ALBERT (whose layers share weights), the number of layers.

Read with the protobuf wire format only (no TensorFlow). Both graph shapes Spark NLP saves
are walked: TF1 graphs, whose ops are top-level nodes, and the meta graph of a TF2
SavedModel, whose ops sit in the function library (``GraphDef.library.function[].node_def``).
Every fact is a vote over the nodes that carry it; a fact the graph does not show is
``None`` and the caller falls back to the family's usual value.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.protowire import fields, packed_varints, signed64

_DT_INT32 = 3
_DT_INT64 = 9
_DT_FLOAT = 1

# Scopes of the attention block of the first layer, in every naming Spark NLP zips carry.
_ATTENTION_0 = re.compile(
    r"(?:layer_(?:\._)?0|block_\._0|inner_group_0|albert_layers_\._0)/"
    r"(?:.*/)?(?:attention|attn|rel_attn|SelfAttention|self)(?:/|_1/)"
)
_SHAPE_CONST = re.compile(r"/shape(?:/([0-9]{1,4}))?$")
_FFN_SCOPE = re.compile(r"intermediate|ffn|/ff/|DenseReluDense|lin1|/ff_|/[Gg]elu")
_LAYER_INDEX = re.compile(r"/layer_([0-9]{1,4})/")
# the query projection of a (shared) ALBERT layer: one per layer run, in TF-Hub graphs and
# in traced TF2 functions alike
_ALBERT_QUERY = re.compile(
    r"(?:albert_layers_\._\d+/attention|inner_group_\d+/attention_1/self)/query/"
)
_PROJECTION_OPS = ("MatMul", "BatchMatMulV2", "Einsum")
# Longformer's _pad_to_window_size: seq_len % attention_window, in the main layer's scope
_WINDOW_MOD = re.compile(r"(?:^|/)longformer/mod(?:_\d+)?/y$")
#: The largest Longformer attention window believed (released models use 512); a larger
#: constant would make every input padded to a multiple of it.
MAX_WINDOW = 1 << 14
_LAYER_NORM = re.compile(r"LayerNorm|layer_norm|layernorm", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class GraphFacts:
    heads: int | None
    activation: str | None  # transformers' name: "gelu", "gelu_new", "relu"
    layer_norm_eps: float | None
    layer_count: int | None  # distinct ``layer_N`` scopes (TF1 ALBERT); None when absent
    query_calls: int | None  # query projections run by one function (TF2 ALBERT: layers)
    ops: frozenset[str]
    attention_window: int | None = None  # Longformer: inputs are padded to a multiple of it


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    op: str
    raw: bytes


def _nodes(data: bytes, source: str) -> Iterator[tuple[int, _Node]]:
    """``(unit, node)``: unit 0 is the top-level graph, unit k the k-th library function."""

    def node(buf: bytes) -> _Node:
        name = op = ""
        for number, _w, value in fields(buf, source):
            if number == 1 and isinstance(value, bytes):
                name = value.decode("utf-8", "replace")
            elif number == 2 and isinstance(value, bytes):
                op = value.decode("utf-8", "replace")
            if name and op:
                # NodeDef writes name (1) and op (2) first: the inputs and attrs after
                # them are parsed only for the few nodes whose values are read
                break
        return _Node(name, op, buf)

    unit = 0
    for number, _w, value in fields(data, source):
        if number == 1 and isinstance(value, bytes):
            yield 0, node(value)
        elif number == 2 and isinstance(value, bytes):  # FunctionDefLibrary
            for n2, _w2, function in fields(value, source):
                if n2 != 1 or not isinstance(function, bytes):
                    continue
                unit += 1
                for n3, _w3, node_def in fields(function, source):
                    if n3 == 3 and isinstance(node_def, bytes):
                        yield unit, node(node_def)


def _attr(node: _Node, key: bytes, source: str) -> bytes | None:
    for number, _w, attr in fields(node.raw, source):
        if number != 5 or not isinstance(attr, bytes):
            continue
        k = v = None
        for n2, _w2, v2 in fields(attr, source):
            if n2 == 1 and isinstance(v2, bytes):
                k = v2
            elif n2 == 2 and isinstance(v2, bytes):
                v = v2
        if k == key:
            return v
    return None


def _tensor(node: _Node, source: str) -> np.ndarray | None:
    """The value of a small int/float Const node, or ``None``."""
    value = _attr(node, b"value", source)
    if value is None:
        return None
    for number, _w, tensor in fields(value, source):
        if number != 8 or not isinstance(tensor, bytes):
            continue
        dtype = 0
        ints: list[int] = []
        floats: list[float] = []
        content = b""
        for n, w, v in fields(tensor, source):
            if n == 1 and isinstance(v, int):
                dtype = v
            elif n == 4 and isinstance(v, bytes):
                content = v
            elif n in (7, 10) and w == 2 and isinstance(v, bytes):
                ints.extend(packed_varints(v, source))
            elif n in (7, 10) and isinstance(v, int):
                ints.append(signed64(v))
            elif n == 5 and w == 2 and isinstance(v, bytes):
                if len(v) % 4:
                    raise ArtifactFormatError(f"packed floats of {len(v)} bytes")
                floats.extend(struct.unpack(f"<{len(v) // 4}f", v))
            elif n == 5 and w == 5 and isinstance(v, int):
                floats.append(struct.unpack("<f", struct.pack("<I", v))[0])
        width = {_DT_INT32: 4, _DT_INT64: 8, _DT_FLOAT: 4}.get(dtype)
        if width is not None and len(content) % width:
            raise ArtifactFormatError(
                f"a Const of dtype {dtype} holds {len(content)} bytes, not a multiple of {width}"
            )
        if dtype == _DT_INT32:
            return np.frombuffer(content, "<i4") if content else np.array(ints, np.int64)
        if dtype == _DT_INT64:
            return np.frombuffer(content, "<i8") if content else np.array(ints, np.int64)
        if dtype == _DT_FLOAT:
            return np.frombuffer(content, "<f4") if content else np.array(floats, np.float32)
    return None


def _float_attr(node: _Node, key: bytes, source: str) -> float | None:
    value = _attr(node, key, source)
    if value is None:
        return None
    for number, _w, v in fields(value, source):
        if number == 4 and isinstance(v, int):
            return float(struct.unpack("<f", struct.pack("<I", v))[0])
    return None


def _head_votes(shapes: dict[str, dict[int, int]], vectors: list[np.ndarray], hidden: int):  # type: ignore[no-untyped-def]
    votes: Counter[int] = Counter()
    for parts in shapes.values():
        # reshape to (batch, -1, heads, head_size): the packed shape's scalar constants
        heads, size = parts.get(2), parts.get(3)
        if heads and size and heads > 0 and heads * size == hidden:
            votes[heads] += 1
        elif heads and size is None and parts.get(1) == -1 and heads > 1 and not hidden % heads:
            votes[heads] += 1  # DistilBERT: the head size is computed, not a constant
        elif heads and size == -1 and heads > 1 and not hidden % heads:
            votes[heads] += 1  # DeBERTa: (..., heads, -1)
    for vec in vectors:
        # albert's dense_layer_3d: the kernel viewed as [hidden, heads, head_size]
        if vec.size == 3 and vec[0] == hidden and vec[1] > 0 and vec[1] * vec[2] == hidden:
            votes[int(vec[1])] += 1
        elif vec.size == 4 and vec[2] > 0 and vec[2] * vec[3] == hidden:
            votes[int(vec[2])] += 1
    return votes


def graph_facts(data: bytes, source: str, hidden: int) -> GraphFacts:
    """The facts of the GraphDef ``data`` (``source`` names it in errors) for a model of
    width ``hidden`` (attention heads × head size, which is what a head vote must match)."""
    shapes: dict[str, dict[int, int]] = {}
    vectors: list[np.ndarray] = []
    ffn_ops: set[str] = set()
    ops: set[str] = set()
    eps: Counter[float] = Counter()
    layers: set[int] = set()
    queries: Counter[int] = Counter()
    windows: Counter[int] = Counter()
    try:
        for unit, node in _nodes(data, source):
            if node.op in _PROJECTION_OPS and _ALBERT_QUERY.search(node.name):
                queries[unit] += 1
            ops.add(node.op)
            if (m := _LAYER_INDEX.search(node.name)) and "transformer/" in node.name:
                layers.add(int(m.group(1)))
            if _FFN_SCOPE.search(node.name):
                ffn_ops.add(node.op)
            if _LAYER_NORM.search(node.name):
                if node.op == "FusedBatchNormV3":
                    value = _float_attr(node, b"epsilon", source)
                    if value is not None:
                        eps[round(value, 12)] += 1
                elif node.op == "Const" and node.name.endswith(("batchnorm/add/y", "add/y")):
                    value_t = _tensor(node, source)
                    if value_t is not None and value_t.size == 1 and 0 < value_t[0] < 1e-3:
                        eps[round(float(value_t[0]), 12)] += 1
            if node.op == "Const" and _WINDOW_MOD.search(node.name):
                window = _tensor(node, source)
                if window is not None and window.size == 1 and 0 < window[0] <= MAX_WINDOW:
                    windows[int(window[0])] += 1
            if node.op != "Const" or not _ATTENTION_0.search(node.name):
                continue
            m2 = _SHAPE_CONST.search(node.name)
            if m2 is None:
                continue
            value_t = _tensor(node, source)
            if value_t is None:
                continue
            if m2.group(1) is not None and value_t.size == 1:
                shapes.setdefault(node.name[: m2.start()], {})[int(m2.group(1))] = int(value_t[0])
            elif m2.group(1) is None and value_t.size in (3, 4):
                vectors.append(value_t.astype(np.int64))
    except ArtifactFormatError as exc:
        raise ArtifactFormatError(f"{source}: not a readable TensorFlow GraphDef ({exc})") from None
    votes = _head_votes(shapes, vectors, hidden)
    if "Erf" in ffn_ops or "Erfc" in ffn_ops:
        activation: str | None = "gelu"
    elif "Tanh" in ffn_ops and ("Pow" in ffn_ops or "Mul" in ffn_ops):
        activation = "gelu_new"
    elif "Relu" in ffn_ops:
        activation = "relu"
    else:
        activation = None
    return GraphFacts(
        heads=votes.most_common(1)[0][0] if votes else None,
        activation=activation,
        layer_norm_eps=eps.most_common(1)[0][0] if eps else None,
        layer_count=max(layers) + 1 if layers else None,
        query_calls=max(queries.values()) if queries else None,
        attention_window=windows.most_common(1)[0][0] if windows else None,
        ops=frozenset(ops),
    )
