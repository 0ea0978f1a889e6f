"""Reading TensorFlow checkpoints (``variables.index`` + ``variables.data-*``) and bare
GraphDefs without TensorFlow, and mapping BERT variables onto transformers' ``BertModel``.

``variables.index`` is a LevelDB-style table (TensorFlow's ``table`` SSTable): sorted keys
(tensor names) with ``BundleEntryProto`` values saying dtype, shape, shard, offset and size;
the data shards hold the raw little-endian tensor bytes. Both naming schemes are understood:
the original TF1 BERT names (``bert/encoder/layer_N/attention/self/query/kernel``) and the TF2
Hugging Face ones (``tf_bert_model/bert/encoder/layer_._N/...``), the latter also when only
the object-graph keys (``.../.ATTRIBUTES/VARIABLE_VALUE``) are at hand.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.protowire import fields, packed_varints, signed64, varint

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_ATTRIBUTE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

#: TensorFlow DataType enum -> numpy dtype (little-endian).
_DTYPES: dict[int, str] = {
    1: "<f4",
    2: "<f8",
    3: "<i4",
    4: "u1",
    5: "<i2",
    6: "i1",
    9: "<i8",
    10: "?",
    14: "bfloat16",
    19: "<f2",
}
_DT_STRING = 7


@dataclass(frozen=True, slots=True)
class TensorEntry:
    name: str
    dtype: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


# -- the SSTable -----------------------------------------------------------------------


def _block(data: bytes, offset: int, size: int, source: str) -> bytes:
    if offset < 0 or offset + size + 5 > len(data):
        raise ArtifactFormatError(
            f"{source}: table block at {offset}+{size} runs past the end of the file "
            f"({len(data)} bytes); the index is truncated"
        )
    kind = data[offset + size]
    if kind != 0:
        raise ArtifactFormatError(
            f"{source}: table block compressed with type {kind}; only uncompressed "
            "blocks (TensorFlow's default for checkpoints) are supported"
        )
    return data[offset : offset + size]


def _block_entries(block: bytes, source: str) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ArtifactFormatError(f"{source}: table block too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ArtifactFormatError(f"{source}: corrupt table block (restart count {restarts})")
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = varint(block, pos, source)
        unshared, pos = varint(block, pos, source)
        vlen, pos = varint(block, pos, source)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise ArtifactFormatError(f"{source}: corrupt table entry at block offset {pos}")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        out.append((key, block[pos : pos + vlen]))
        pos += vlen
    return out


def _handle(buf: bytes, pos: int, source: str) -> tuple[int, int, int]:
    offset, pos = varint(buf, pos, source)
    size, pos = varint(buf, pos, source)
    return offset, size, pos


Reader = Callable[[PurePath], bytes]
#: Reads a data shard; a writable buffer (``bytearray``) gives writable tensors.
DataReader = Callable[[PurePath], bytes | bytearray | np.ndarray]
"""Reads one file of an engine: from disk, or a member of the engine zip
(:meth:`modelhub.safezip.SafeZip.read`), so that nothing is extracted."""


def read_path(path: PurePath) -> bytes:
    return Path(path).read_bytes()


def read_table(path: PurePath, read: Reader = read_path) -> list[tuple[bytes, bytes]]:
    """All ``(key, value)`` pairs of a TensorFlow table file, in key order."""
    source = str(path)
    try:
        data = read(path)
    except OSError as exc:
        raise ArtifactFormatError(f"{path}: cannot read the checkpoint index ({exc})") from None
    if len(data) < _FOOTER_SIZE:
        raise ArtifactFormatError(
            f"{path}: too short for a TensorFlow checkpoint index ({len(data)} bytes)"
        )
    footer = data[-_FOOTER_SIZE:]
    magic = struct.unpack_from("<Q", footer, 40)[0]
    if magic != _TABLE_MAGIC:
        raise ArtifactFormatError(
            f"{path}: not a TensorFlow checkpoint index (expected the table magic "
            f"{_TABLE_MAGIC:#x} at the end, found {magic:#x})"
        )
    _meta_off, _meta_size, pos = _handle(footer, 0, source)
    index_off, index_size, _ = _handle(footer, pos, source)
    entries: list[tuple[bytes, bytes]] = []
    for _sep, handle in _block_entries(_block(data, index_off, index_size, source), source):
        off, size, _ = _handle(handle, 0, source)
        entries.extend(_block_entries(_block(data, off, size, source), source))
    return entries


# -- BundleEntryProto ------------------------------------------------------------------


def _shape(buf: bytes, source: str) -> tuple[int, ...]:
    dims: list[int] = []
    for number, _w, value in fields(buf, source):
        if number == 2 and isinstance(value, bytes):
            size = 0
            for n2, _w2, v2 in fields(value, source):
                if n2 == 1 and isinstance(v2, int):
                    size = signed64(v2)
            dims.append(size)
    return tuple(dims)


def _entry(name: str, buf: bytes, source: str) -> TensorEntry:
    dtype = shard = offset = size = 0
    shape: tuple[int, ...] = ()
    for number, _w, value in fields(buf, f"{source} [{name}]"):
        if number == 1 and isinstance(value, int):
            dtype = value
        elif number == 2 and isinstance(value, bytes):
            shape = _shape(value, source)
        elif number == 3 and isinstance(value, int):
            shard = value
        elif number == 4 and isinstance(value, int):
            offset = value
        elif number == 5 and isinstance(value, int):
            size = value
        elif number == 7:
            raise ArtifactFormatError(
                f"{source}: tensor {name!r} is saved in slices (partitioned variables are "
                "not supported)"
            )
    return TensorEntry(name, dtype, shape, shard, offset, size)


class Checkpoint:
    """A TensorFlow V2 checkpoint: ``prefix.index`` plus ``prefix.data-NNNNN-of-MMMMM``.
    ``read_data`` reads the data shards (default ``read``): one that returns a writable
    buffer gives writable tensors, which the runner uses without copying."""

    def __init__(
        self, index: PurePath, read: Reader = read_path, read_data: DataReader | None = None
    ) -> None:
        self.index = index if isinstance(index, PurePath) else Path(index)
        self.read = read
        self.read_data = read_data or read
        prefix = self.index.name.removesuffix(".index")
        self.folder = self.index.parent
        self.prefix = prefix
        self.entries: dict[str, TensorEntry] = {}
        num_shards = 1
        for key, value in read_table(self.index, read):
            name = key.decode("utf-8", errors="replace")
            if name == "":
                for number, _w, v in fields(value, f"{self.index} [header]"):
                    if number == 1 and isinstance(v, int):
                        num_shards = v
                    elif number == 2 and v == 1:
                        raise ArtifactFormatError(
                            f"{self.index}: big-endian checkpoints are not supported"
                        )
                continue
            self.entries[name] = _entry(name, value, str(self.index))
        self.num_shards = max(1, num_shards)
        self._shards: dict[int, bytes | bytearray | np.ndarray] = {}

    def shard_path(self, shard: int) -> PurePath:
        return self.folder / f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}"

    def _shard(self, shard: int) -> bytes | bytearray | np.ndarray:
        if shard not in self._shards:
            path = self.shard_path(shard)
            try:
                self._shards[shard] = self.read_data(path)
            except OSError as exc:
                raise ArtifactFormatError(
                    f"{path}: checkpoint data shard missing or unreadable ({exc}); "
                    f"{self.index} expects {self.num_shards} shard(s)"
                ) from None
        return self._shards[shard]

    def raw(self, name: str) -> memoryview:
        """The stored bytes of tensor ``name``: a view into the shard (no copy; a base-size
        model's shard is hundreds of MB)."""
        e = self.entries[name]
        data = self._shard(e.shard)
        if e.offset + e.size > len(data):
            raise ArtifactFormatError(
                f"{self.shard_path(e.shard)}: tensor {name!r} needs bytes "
                f"{e.offset}..{e.offset + e.size}, the shard has {len(data)} (truncated)"
            )
        return memoryview(data)[e.offset : e.offset + e.size]

    def tensor(self, name: str) -> np.ndarray:
        e = self.entries[name]
        if e.dtype not in _DTYPES:
            raise ArtifactFormatError(
                f"{self.index}: tensor {name!r} has TensorFlow dtype {e.dtype}, not a number type"
            )
        code = _DTYPES[e.dtype]
        if any(d < 0 for d in e.shape):
            raise ArtifactFormatError(
                f"{self.index}: tensor {name!r} has a negative dimension {list(e.shape)[:8]}"
            )
        raw = self.raw(name)
        # Python ints: numpy's product wraps around on a hostile shape such as [2**32, 2**32]
        count = math.prod(e.shape)
        width = 2 if code == "bfloat16" else np.dtype(code).itemsize
        if count * width != len(raw):
            raise ArtifactFormatError(
                f"{self.index}: tensor {name!r} has shape {list(e.shape)[:8]} ({count} values) "
                f"but {len(raw)} bytes are stored"
            )
        if code == "bfloat16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=np.dtype(code))
        if array.size != count:
            raise ArtifactFormatError(
                f"{self.index}: tensor {name!r} has shape {list(e.shape)} ({count} values) but "
                f"{array.size} values are stored"
            )
        return array.reshape(e.shape)

    def string_scalar(self, name: str) -> bytes:
        """A scalar DT_STRING tensor: a varint length, a 4-byte checksum, the bytes."""
        raw = self.raw(name)
        length, pos = varint(raw, 0, f"{self.index} [{name}]")
        return bytes(raw[pos + 4 : pos + 4 + length])

    def numeric_names(self) -> list[str]:
        return [n for n, e in self.entries.items() if e.dtype in _DTYPES]

    def full_names(self) -> dict[str, str]:
        """checkpoint key -> variable name, from the object graph of TF2 checkpoints."""
        entry = self.entries.get(_OBJECT_GRAPH_KEY)
        if entry is None or entry.dtype != _DT_STRING:
            return {}
        graph = self.string_scalar(_OBJECT_GRAPH_KEY)
        source = f"{self.index} [object graph]"
        out: dict[str, str] = {}
        for number, _w, node in fields(graph, source):
            if number != 1 or not isinstance(node, bytes):
                continue
            for n2, _w2, attr in fields(node, source):
                if n2 != 2 or not isinstance(attr, bytes):
                    continue
                full = key = ""
                for n3, _w3, v3 in fields(attr, source):
                    if n3 == 2 and isinstance(v3, bytes):
                        full = v3.decode("utf-8", "replace")
                    elif n3 == 3 and isinstance(v3, bytes):
                        key = v3.decode("utf-8", "replace")
                if key and full:
                    out[key] = full
        return out


def find_checkpoint(files: Path | Iterable[PurePath]) -> PurePath | None:
    """The ``*.index`` file of the checkpoint among an engine's files (or in an unpacked
    ``bert_tensorflow`` folder)."""
    found = sorted(
        Path(files).rglob("*.index")
        if isinstance(files, Path)
        else (p for p in files if p.name.endswith(".index"))
    )
    preferred = [p for p in found if p.name == "variables.index"]
    return (preferred or found or [None])[0]


# -- BERT names --------------------------------------------------------------------------

_CANONICAL_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"layer_\._(\d+)"), r"layer_\1"),  # HF TF2 variable names
    (re.compile(r"/layer/(\d+)/"), r"/layer_\1/"),  # object-graph keys
    (re.compile(r"/self_attention/"), "/self/"),
    (re.compile(r"/dense_output/"), "/output/"),
    (re.compile(r"/bert_output/"), "/output/"),
    (re.compile(r"^bert/embeddings/weight$"), "bert/embeddings/word_embeddings"),
    (re.compile(r"/word_embeddings/weight$"), "/word_embeddings"),
    (re.compile(r"/(position|token_type)_embeddings/embeddings$"), r"/\1_embeddings"),
]

_HF_RULE = re.compile(
    r"^bert/(embeddings/(?:word|position|token_type)_embeddings"
    r"|embeddings/LayerNorm/(?:gamma|beta)"
    r"|encoder/layer_\d+/(?:attention/self/(?:query|key|value)|attention/output/dense"
    r"|intermediate/dense|output/dense)/(?:kernel|bias)"
    r"|encoder/layer_\d+/(?:attention/output|output)/LayerNorm/(?:gamma|beta)"
    r"|pooler/dense/(?:kernel|bias))$"
)


def canonical_name(name: str) -> str | None:
    """The TF1 BERT name (``bert/...``) of a variable in either naming, or ``None``."""
    n = name.removesuffix(_ATTRIBUTE_SUFFIX).removesuffix(":0")
    parts = n.split("/")
    if "bert" not in parts:
        return None
    # Keep from the last "bert" scope: drops "tf_bert_model/", "model/" and similar prefixes.
    start = len(parts) - 1 - parts[::-1].index("bert")
    n = "/".join(parts[start:])
    for pattern, repl in _CANONICAL_RULES:
        n = pattern.sub(repl, n)
    return n if _HF_RULE.match(n) else None


def hf_name(tf1_name: str) -> tuple[str, bool]:
    """transformers ``BertModel`` key for a TF1 BERT name, and whether to transpose."""
    n = tf1_name.removeprefix("bert/")
    n = re.sub(r"layer_(\d+)", r"layer.\1", n).replace("/", ".")
    if n.endswith(".kernel"):
        return n.removesuffix(".kernel") + ".weight", True
    if n.endswith(".gamma"):
        return n.removesuffix(".gamma") + ".weight", False
    if n.endswith(".beta"):
        return n.removesuffix(".beta") + ".bias", False
    if n.endswith("_embeddings"):
        return n + ".weight", False
    return n, False


def bert_state_dict(ckpt: Checkpoint) -> dict[str, np.ndarray]:
    """The checkpoint's BERT weights under transformers ``BertModel`` names (float32)."""
    full = ckpt.full_names()
    found: dict[str, str] = {}
    for key in ckpt.numeric_names():
        canon = canonical_name(full.get(key, key)) or canonical_name(key)
        if canon is not None:
            if canon in found:
                raise ArtifactFormatError(
                    f"{ckpt.index}: variables {found[canon]!r} and {key!r} both map to {canon}"
                )
            found[canon] = key
    if "bert/embeddings/word_embeddings" not in found:
        names = sorted(full.get(k, k) for k in ckpt.numeric_names())
        shown = ", ".join(names[:40]) + (f", ... ({len(names)} in all)" if len(names) > 40 else "")
        raise ArtifactFormatError(
            f"{ckpt.index}: unknown variable naming: expected BERT variables named like "
            "bert/encoder/layer_N/... (TF1) or tf_bert_model/bert/encoder/layer_._N/... "
            f"(TF2 Hugging Face); found: {shown or '(no numeric tensors)'}"
        )
    state: dict[str, np.ndarray] = {}
    for canon, key in found.items():
        name, transpose = hf_name(canon)
        array = ckpt.tensor(key).astype(np.float32, copy=False)
        state[name] = np.ascontiguousarray(array.T if transpose else array)
    return state


# -- config ------------------------------------------------------------------------------


def infer_bert_config(
    state: dict[str, np.ndarray], num_attention_heads: int | None, source: str
) -> dict[str, Any]:
    """A transformers ``BertConfig`` dict from the weights' shapes; the number of heads is
    not in the weights and comes from the graph or the caller."""
    word = state["embeddings.word_embeddings.weight"]
    vocab, hidden = (int(x) for x in word.shape)
    layers = sorted(
        {int(m.group(1)) for k in state if (m := re.match(r"encoder\.layer\.(\d+)\.", k))}
    )
    if layers != list(range(len(layers))) or not layers:
        raise ArtifactFormatError(f"{source}: encoder layers are not 0..N-1: {layers}")
    required = (
        "embeddings.position_embeddings.weight",
        "encoder.layer.0.intermediate.dense.weight",
    )
    for key in required:
        if key not in state:
            raise ArtifactFormatError(f"{source}: BERT weight {key} is missing")
    if num_attention_heads is None:
        if hidden % 64:
            raise ArtifactFormatError(
                f"{source}: cannot tell the number of attention heads (hidden size {hidden} is "
                "not a multiple of BERT's usual head size 64 and the graph does not say); "
                "pass num_attention_heads=..."
            )
        num_attention_heads = hidden // 64
    if hidden % num_attention_heads:
        raise ArtifactFormatError(
            f"{source}: hidden size {hidden} is not divisible by {num_attention_heads} heads"
        )
    types = state.get("embeddings.token_type_embeddings.weight")
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_hidden_layers": len(layers),
        "num_attention_heads": int(num_attention_heads),
        "intermediate_size": int(state["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        "hidden_act": "gelu",
        "max_position_embeddings": int(state["embeddings.position_embeddings.weight"].shape[0]),
        "type_vocab_size": int(types.shape[0]) if types is not None else 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }


# -- GraphDef: the number of heads ------------------------------------------------------

_HEADS_NODE = re.compile(r"layer_(?:\._)?0/attention/self/Reshape(?:_\d+)?/shape/2$")


def _const_ints(node: bytes, source: str) -> list[int]:
    for number, _w, attr in fields(node, source):
        if number != 5 or not isinstance(attr, bytes):
            continue
        key = value = None
        for n2, _w2, v2 in fields(attr, source):
            if n2 == 1 and isinstance(v2, bytes):
                key = v2
            elif n2 == 2 and isinstance(v2, bytes):
                value = v2
        if key != b"value" or value is None:
            continue
        for n3, _w3, tensor in fields(value, source):
            if n3 != 8 or not isinstance(tensor, bytes):
                continue
            ints: list[int] = []
            for n4, w4, v4 in fields(tensor, source):
                if n4 in (7, 10) and w4 == 2 and isinstance(v4, bytes):
                    ints.extend(packed_varints(v4, source))
                elif n4 in (7, 10) and isinstance(v4, int):
                    ints.append(signed64(v4))
                elif n4 == 4 and isinstance(v4, bytes):
                    ints.extend(int(x) for x in np.frombuffer(v4, dtype="<i4"))
            return ints
    return []


def heads_from_graph(graph_pb: PurePath, read: Reader = read_path) -> int | None:
    """The number of attention heads, read from the constant that reshapes layer 0's queries
    to ``[batch, seq, heads, head_size]`` in a bare GraphDef; ``None`` when not found."""
    try:
        data = read(graph_pb)
    except OSError:
        return None
    source = str(graph_pb)
    try:
        for number, _w, node in fields(data, source):
            if number != 1 or not isinstance(node, bytes):
                continue
            name = next(
                (v for n, _w2, v in fields(node, source) if n == 1 and isinstance(v, bytes)), b""
            ).decode("utf-8", "replace")
            if _HEADS_NODE.search(name):
                ints = _const_ints(node, source)
                if len(ints) == 1 and ints[0] > 0:
                    return ints[0]
    except ArtifactFormatError:
        return None
    return None
