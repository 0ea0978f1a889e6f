"""Variable names of Spark NLP TensorFlow engines -> transformers torch ``state_dict`` keys.

Four naming schemes occur in the zips Spark NLP published:

* **Hugging Face TF2** (every model imported through the ``HuggingFace in Spark NLP``
  notebooks, 3.x onwards): ``tf_<model>_model/<base>/encoder/layer_._N/attention/self/
  query/kernel``. transformers named its TF layers after the torch modules, so one rule maps
  them all: drop the model scope and the base-model prefix, ``_._N`` is list index ``N``,
  ``kernel`` is the transposed ``weight``, ``gamma``/``beta``/``embeddings`` are
  ``weight``/``bias``/``weight``. Exceptions handled here: T5's shared embedding lives
  outside the model scope (``shared/shared/embeddings``), XLNet's attention tensors have no
  ``kernel`` suffix (``rel_attn/q``, kept as ``[d_model, heads, head_size]``), and some
  transformers 4.x releases named word embeddings ``<base>/embeddings/weight`` (the same
  alias the BERT reader in ``tf_checkpoint`` knows).
* **TF-Hub ALBERT** (Spark NLP 2.x AlbertEmbeddings): :func:`albert_hub_state_dict`.
* **Original XLNet** (zihangdai/xlnet, Spark NLP 2.x XlnetEmbeddings):
  :func:`xlnet_state_dict`.
* **Original TF1 BERT** (``bert/encoder/layer_N/...``): handled by
  :func:`modelhub.loaders.sparknlp.tf_checkpoint.bert_state_dict`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.tf_checkpoint import Checkpoint

_ATTRIBUTE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_RENAMES = {"kernel": "weight", "gamma": "weight", "beta": "bias", "embeddings": "weight"}


def variable_names(ckpt: Checkpoint) -> dict[str, str]:
    """variable name -> checkpoint key, for the numeric tensors: the object graph's full
    names for TF2 checkpoints (keys like ``variables/3/.ATTRIBUTES/VARIABLE_VALUE``), the
    keys themselves for TF1 ones."""
    full = ckpt.full_names()
    out: dict[str, str] = {}
    for key in ckpt.numeric_names():
        name = full.get(key) or key.removesuffix(_ATTRIBUTE_SUFFIX)
        out[name.removesuffix(":0")] = key
    return out


def scheme_of(names: Iterable[str]) -> str:
    """``"hf"``, ``"albert-hub"``, ``"xlnet-orig"``, ``"bert-tf1"`` or ``"unknown"``."""
    names = list(names)
    if any("/inner_group_" in n and "/transformer/group_" in n for n in names):
        return "albert-hub"
    if any("_._" in n for n in names):
        return "hf"
    if any(re.search(r"(^|/)model/transformer/layer_\d+/rel_attn/", n) for n in names):
        return "xlnet-orig"
    if any(re.search(r"(^|/)bert/encoder/layer_\d+/", n) for n in names):
        return "bert-tf1"
    return "unknown"


def hf_torch_name(name: str, base_prefix: str) -> tuple[str, bool]:
    """The torch key for a Hugging Face TF2 variable name, and whether to transpose it."""
    parts = re.sub(r"/+", "/", name.replace("_._", "/")).strip("/").split("/")
    if len(parts) > 1:
        parts = parts[1:]  # the model scope (tf_bert_model, tft5_encoder_model, shared)
    if len(parts) > 1 and parts[0] == base_prefix:
        parts = parts[1:]
    transpose = parts[-1] == "kernel"
    parts[-1] = _RENAMES.get(parts[-1], parts[-1])
    return ".".join(parts), transpose


def layer_pattern(key: str) -> str:
    """``key`` with its list indices written ``#`` (``encoder.layer.#.output.dense.weight``)."""
    return re.sub(r"\.\d+\.", ".#.", key)


def hf_state_dict(
    ckpt: Checkpoint,
    names: dict[str, str],
    base_prefix: str,
    expected: Iterable[str],
    origin: dict[str, str],
) -> dict[str, np.ndarray]:
    """The checkpoint's tensors under torch keys; ``expected``: the model's keys as
    :func:`layer_pattern` writes them (variables with no place there, e.g. a head, are
    skipped). ``origin`` receives torch key -> TensorFlow variable name."""
    wanted = set(expected)
    state: dict[str, np.ndarray] = {}
    for name, key in sorted(names.items()):
        torch_name, transpose = hf_torch_name(name, base_prefix)
        if layer_pattern(torch_name) not in wanted and torch_name.endswith("embeddings.weight"):
            # some transformers 4.x releases named word embeddings "<base>/embeddings/weight"
            alt = torch_name.removesuffix("embeddings.weight") + "embeddings.word_embeddings.weight"
            torch_name = alt if alt in wanted else torch_name
        if layer_pattern(torch_name) not in wanted:
            continue
        if torch_name in state:
            raise ArtifactFormatError(
                f"{ckpt.index}: variables {origin[torch_name]!r} and {name!r} both map to "
                f"{torch_name}"
            )
        array = ckpt.tensor(key).astype(np.float32, copy=False)
        if transpose and array.ndim == 2:
            array = array.T
        state[torch_name] = np.ascontiguousarray(array)
        origin[torch_name] = name
    return state


# -- TF-Hub ALBERT -------------------------------------------------------------------------

_ALBERT_LAYER_PARTS = {
    "attention_1/self/query": "attention.query",
    "attention_1/self/key": "attention.key",
    "attention_1/self/value": "attention.value",
    "attention_1/output/dense": "attention.dense",
    "LayerNorm": "attention.LayerNorm",
    "ffn_1/intermediate/dense": "ffn",
    "ffn_1/intermediate/output/dense": "ffn_output",
    "LayerNorm_1": "full_layer_layer_norm",
}
_ALBERT_LAYER = re.compile(
    r"(?:^|/)bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/(.+)/(kernel|bias|gamma|beta)$"
)
_ALBERT_TOP = {
    "bert/embeddings/word_embeddings": ("embeddings.word_embeddings.weight", False),
    "bert/embeddings/position_embeddings": ("embeddings.position_embeddings.weight", False),
    "bert/embeddings/token_type_embeddings": ("embeddings.token_type_embeddings.weight", False),
    "bert/embeddings/LayerNorm/gamma": ("embeddings.LayerNorm.weight", False),
    "bert/embeddings/LayerNorm/beta": ("embeddings.LayerNorm.bias", False),
    "bert/encoder/embedding_hidden_mapping_in/kernel": (
        "encoder.embedding_hidden_mapping_in.weight",
        True,
    ),
    "bert/encoder/embedding_hidden_mapping_in/bias": (
        "encoder.embedding_hidden_mapping_in.bias",
        False,
    ),
    "bert/pooler/dense/kernel": ("pooler.weight", True),
    "bert/pooler/dense/bias": ("pooler.bias", False),
}


def albert_hub_torch_name(name: str) -> tuple[str, bool] | None:
    """The ``AlbertModel`` key for a TF-Hub ALBERT variable (any ``module/`` prefix), and
    whether to transpose it; ``None`` for variables the encoder does not use (MLM head)."""
    bare = name[name.find("bert/") :] if "bert/" in name else name
    if bare in _ALBERT_TOP:
        return _ALBERT_TOP[bare]
    m = _ALBERT_LAYER.search(bare)
    if m is None:
        return None
    group, inner, part, leaf = m.groups()
    target = _ALBERT_LAYER_PARTS.get(part)
    if target is None:
        return None
    suffix = "weight" if leaf in ("kernel", "gamma") else "bias"
    return (
        f"encoder.albert_layer_groups.{group}.albert_layers.{inner}.{target}.{suffix}",
        leaf == "kernel",
    )


def albert_hub_state_dict(
    ckpt: Checkpoint, names: dict[str, str], origin: dict[str, str]
) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}
    for name, key in sorted(names.items()):
        mapped = albert_hub_torch_name(name)
        if mapped is None:
            continue
        torch_name, transpose = mapped
        if torch_name in state:
            raise ArtifactFormatError(
                f"{ckpt.index}: two variables map to {torch_name} (the second is {name!r})"
            )
        array = ckpt.tensor(key).astype(np.float32, copy=False)
        state[torch_name] = np.ascontiguousarray(array.T if transpose else array)
        origin[torch_name] = name
    return state


# -- original XLNet -------------------------------------------------------------------------

_XLNET_LAYER = re.compile(
    r"(?:^|/)model/transformer/layer_(\d+)/"
    r"(rel_attn/(?:q|k|v|o|r)/kernel|(?:rel_attn|ff)/LayerNorm/(?:gamma|beta)"
    r"|ff/layer_[12]/(?:kernel|bias))$"
)
_XLNET_STACKED = ("r_w_bias", "r_r_bias", "r_s_bias", "seg_embed")


def xlnet_torch_name(name: str) -> tuple[str, bool] | None:
    """The ``XLNetModel`` key of an original XLNet variable (layers' parts only; the
    embeddings and the stacked per-layer biases are handled by :func:`xlnet_state_dict`)."""
    m = _XLNET_LAYER.search(name)
    if m is None:
        return None
    layer, part = m.groups()
    part = part.replace("LayerNorm/gamma", "layer_norm/weight")
    part = part.replace("LayerNorm/beta", "layer_norm/bias")
    transpose = part.startswith("ff/layer_") and part.endswith("kernel")
    part = part.removesuffix("/kernel") if part.startswith("rel_attn/") else part
    part = part.replace("/kernel", "/weight")
    return f"layer.{layer}.{part.replace('/', '.')}", transpose


def xlnet_state_dict(
    ckpt: Checkpoint, names: dict[str, str], origin: dict[str, str]
) -> dict[str, np.ndarray]:
    """``r_w_bias``/``r_r_bias``/``r_s_bias``/``seg_embed`` are stacked over layers when the
    model unties them (``untie_r``, every released XLNet); a tied one is copied to each."""
    by_tail = {n.rsplit("model/transformer/", 1)[-1]: n for n in names if "model/transformer/" in n}
    state: dict[str, np.ndarray] = {}

    def put(key: str, name: str, array: np.ndarray) -> None:
        state[key] = np.ascontiguousarray(array.astype(np.float32, copy=False))
        origin[key] = name

    for tail, key in (
        ("word_embedding/lookup_table", "word_embedding.weight"),
        ("mask_emb/mask_emb", "mask_emb"),
    ):
        if tail in by_tail:
            put(key, by_tail[tail], ckpt.tensor(names[by_tail[tail]]))
    layers = 0
    for name, key in sorted(names.items()):
        mapped = xlnet_torch_name(name)
        if mapped is None:
            continue
        torch_name, transpose = mapped
        array = ckpt.tensor(key)
        put(torch_name, name, array.T if transpose else array)
        index = torch_name.split(".")[1]
        if len(index) > 4:  # int() refuses 4,300+ digits; no model has 10,000 layers
            raise ArtifactFormatError(
                f"{ckpt.index}: {name[:120]!r} has a layer index past any model"
            )
        layers = max(layers, int(index) + 1)
    for bias in _XLNET_STACKED:
        name = by_tail.get(bias)
        if name is None:
            continue
        array = ckpt.tensor(names[name])
        per_layer = array.ndim == (4 if bias == "seg_embed" else 3)
        if per_layer and array.shape[0] != layers:
            raise ArtifactFormatError(
                f"{ckpt.index}: {name!r} holds {array.shape[0]} layers' values, the "
                f"checkpoint has {layers} layers"
            )
        for i in range(layers):
            put(f"layer.{i}.rel_attn.{bias}", name, array[i] if per_layer else array)
    return state
