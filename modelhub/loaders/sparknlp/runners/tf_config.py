"""A transformers config for the weights of a TensorFlow engine: sizes from the tensors'
shapes, the rest (heads, activation, epsilon, ALBERT's layer count) from the GraphDef
(:mod:`.tf_graph`), else the family's usual value."""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.runners.tf_graph import GraphFacts

log = logging.getLogger(__name__)

#: model_type -> LayerNorm epsilon of the released models, when the graph does not say.
_EPS = {
    "roberta": 1e-5,
    "camembert": 1e-5,
    "xlm-roberta": 1e-5,
    "mpnet": 1e-5,
    "t5": 1e-6,
    "deberta-v2": 1e-7,
    "longformer": 1e-5,
}
_ROBERTA_LIKE = ("roberta", "camembert", "xlm-roberta", "longformer")


def _count(state: dict[str, np.ndarray], pattern: str, source: str) -> int:
    indices: set[int] = set()
    for k in state:
        if m := re.match(pattern, k):
            if len(m.group(1)) > 4:  # int() refuses 4,300+ digits; no model has 10,000 layers
                raise ArtifactFormatError(
                    f"{source}: variable {k[:120]!r} has a layer index past any model"
                )
            indices.add(int(m.group(1)))
    found = sorted(indices)
    if not found or found != list(range(len(found))):
        raise ArtifactFormatError(
            f"{source}: expected layers numbered 0..N-1 in the checkpoint, found {found or 'none'}"
        )
    return len(found)


def _need(state: dict[str, np.ndarray], key: str, source: str) -> np.ndarray:
    if key not in state:
        raise ArtifactFormatError(f"{source}: the checkpoint has no variable for {key}")
    return state[key]


def _heads(facts: GraphFacts, hidden: int, source: str) -> int:
    if facts.heads:
        return facts.heads
    if hidden % 64 == 0:
        log.warning(
            "%s: the graph does not show the number of attention heads; assuming the usual "
            "head size 64 (%d heads)",
            source,
            hidden // 64,
        )
        return hidden // 64
    raise ArtifactFormatError(
        f"{source}: cannot tell the number of attention heads: the graph does not show it "
        f"and the hidden size {hidden} is not a multiple of the usual head size 64"
    )


#: The most layers an ALBERT graph may say it runs (released models: 12 or 24).
MAX_SHARED_LAYERS = 256


def _window(facts: GraphFacts, source: str) -> int:
    if facts.attention_window:
        return facts.attention_window
    log.warning(
        "%s: the graph does not show Longformer's attention window; assuming 512 (every "
        "released longformer-*-4096 model)",
        source,
    )
    return 512


def infer_config(
    model_type: str, state: dict[str, np.ndarray], facts: GraphFacts, source: str
) -> dict[str, Any]:
    """Keyword arguments for ``transformers.AutoConfig.for_model(model_type, ...)``."""
    eps = facts.layer_norm_eps or _EPS.get(model_type, 1e-12)
    if model_type in ("bert", *_ROBERTA_LIKE):
        word = _need(state, "embeddings.word_embeddings.weight", source)
        hidden = int(word.shape[1])
        types = state.get("embeddings.token_type_embeddings.weight")
        extra: dict[str, Any] = {}
        if model_type == "longformer":
            extra["attention_window"] = _window(facts, source)
        return {
            **extra,
            "vocab_size": int(word.shape[0]),
            "hidden_size": hidden,
            "num_hidden_layers": _count(state, r"encoder\.layer\.(\d+)\.", source),
            "num_attention_heads": _heads(facts, hidden, source),
            "intermediate_size": int(
                _need(state, "encoder.layer.0.intermediate.dense.weight", source).shape[0]
            ),
            "max_position_embeddings": int(
                _need(state, "embeddings.position_embeddings.weight", source).shape[0]
            ),
            "type_vocab_size": int(types.shape[0]) if types is not None else 1,
            "hidden_act": facts.activation or "gelu",
            "layer_norm_eps": eps,
            "pad_token_id": 1 if model_type in _ROBERTA_LIKE else 0,
        }
    if model_type == "distilbert":
        word = _need(state, "embeddings.word_embeddings.weight", source)
        hidden = int(word.shape[1])
        return {
            "vocab_size": int(word.shape[0]),
            "dim": hidden,
            "n_layers": _count(state, r"transformer\.layer\.(\d+)\.", source),
            "n_heads": _heads(facts, hidden, source),
            "hidden_dim": int(_need(state, "transformer.layer.0.ffn.lin1.weight", source).shape[0]),
            "max_position_embeddings": int(
                _need(state, "embeddings.position_embeddings.weight", source).shape[0]
            ),
            "activation": facts.activation or "gelu",
        }
    if model_type == "mpnet":
        word = _need(state, "embeddings.word_embeddings.weight", source)
        relative = _need(state, "encoder.relative_attention_bias.weight", source)
        return {
            "vocab_size": int(word.shape[0]),
            "hidden_size": int(word.shape[1]),
            "num_hidden_layers": _count(state, r"encoder\.layer\.(\d+)\.", source),
            "num_attention_heads": int(relative.shape[1]),
            "relative_attention_num_buckets": int(relative.shape[0]),
            "intermediate_size": int(
                _need(state, "encoder.layer.0.intermediate.dense.weight", source).shape[0]
            ),
            "max_position_embeddings": int(
                _need(state, "embeddings.position_embeddings.weight", source).shape[0]
            ),
            "hidden_act": facts.activation or "gelu",
            "layer_norm_eps": eps,
            "pad_token_id": 1,
        }
    if model_type == "t5":
        return _t5(state, facts, source, eps)
    if model_type == "albert":
        return _albert(state, facts, source, eps)
    if model_type == "xlnet":
        return _xlnet(state, facts, source, eps)
    if model_type == "deberta-v2":
        return _deberta_v2(state, facts, source, eps)
    raise ArtifactFormatError(
        f"{source}: TensorFlow engines of {model_type} models are not supported yet"
    )


def _t5(state: dict[str, np.ndarray], facts: GraphFacts, source: str, eps: float) -> dict:
    """T5 encoder (Instructor). ``relative_attention_max_distance`` is not in the weights and
    stays transformers' default 128 (every T5/GTR-T5 release Instructor builds on uses it)."""
    shared = _need(state, "shared.weight", source)
    relative = _need(
        state, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", source
    )
    heads = int(relative.shape[1])
    inner = int(_need(state, "encoder.block.0.layer.0.SelfAttention.q.weight", source).shape[0])
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state
    wi = "wi_0" if gated else "wi"
    d_ff = _need(state, f"encoder.block.0.layer.1.DenseReluDense.{wi}.weight", source).shape[0]
    act = "gelu" if facts.activation in ("gelu", "gelu_new") else "relu"
    return {
        "vocab_size": int(shared.shape[0]),
        "d_model": int(shared.shape[1]),
        "d_kv": inner // heads,
        "d_ff": int(d_ff),
        "num_layers": _count(state, r"encoder\.block\.(\d+)\.", source),
        "num_heads": heads,
        "relative_attention_num_buckets": int(relative.shape[0]),
        "feed_forward_proj": f"gated-{act}" if gated else act,
        "layer_norm_epsilon": eps,
        "is_encoder_decoder": False,
        "use_cache": False,
    }


def _albert(state: dict[str, np.ndarray], facts: GraphFacts, source: str, eps: float) -> dict:
    word = _need(state, "embeddings.word_embeddings.weight", source)
    mapping = _need(state, "encoder.embedding_hidden_mapping_in.weight", source)
    hidden = int(mapping.shape[0])
    groups = _count(state, r"encoder\.albert_layer_groups\.(\d+)\.", source)
    inner = _count(state, r"encoder\.albert_layer_groups\.0\.albert_layers\.(\d+)\.", source)
    if facts.layer_count is not None:  # TF-Hub: one name scope per layer
        layers = facts.layer_count
    elif facts.query_calls is not None and facts.query_calls % inner == 0:
        layers = facts.query_calls // inner  # TF2: each layer calls a query projection
    else:
        raise ArtifactFormatError(
            f"{source}: ALBERT shares its layers' weights, and the graph does not show how "
            "many layers it runs (no .../transformer/.../layer_N/ scopes, no traced calls "
            "of albert_layers_._N/attention/query)"
        )
    if not 1 <= layers <= MAX_SHARED_LAYERS:
        # the weights are shared, so nothing but the graph bounds this: a hostile count
        # would make every call run the layer that many times
        raise ArtifactFormatError(
            f"{source}: the graph says ALBERT runs {layers} layers; expected 1..{MAX_SHARED_LAYERS}"
        )
    types = state.get("embeddings.token_type_embeddings.weight")
    return {
        "vocab_size": int(word.shape[0]),
        "embedding_size": int(word.shape[1]),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_hidden_groups": groups,
        "inner_group_num": inner,
        "num_attention_heads": _heads(facts, hidden, source),
        "intermediate_size": int(
            _need(state, "encoder.albert_layer_groups.0.albert_layers.0.ffn.weight", source).shape[
                0
            ]
        ),
        "max_position_embeddings": int(
            _need(state, "embeddings.position_embeddings.weight", source).shape[0]
        ),
        "type_vocab_size": int(types.shape[0]) if types is not None else 2,
        # google-research/albert's gelu is the tanh approximation (transformers' gelu_new)
        "hidden_act": facts.activation or "gelu_new",
        "layer_norm_eps": eps,
        "pad_token_id": 0,
    }


def _xlnet(state: dict[str, np.ndarray], facts: GraphFacts, source: str, eps: float) -> dict:
    word = _need(state, "word_embedding.weight", source)
    q = _need(state, "layer.0.rel_attn.q", source)  # [d_model, heads, head_size]
    return {
        "vocab_size": int(word.shape[0]),
        "d_model": int(word.shape[1]),
        "n_layer": _count(state, r"layer\.(\d+)\.", source),
        "n_head": int(q.shape[1]),
        "d_head": int(q.shape[2]),
        "d_inner": int(_need(state, "layer.0.ff.layer_1.weight", source).shape[0]),
        # zihangdai/xlnet's gelu is the tanh approximation; the graph says which one ran
        "ff_activation": facts.activation or "gelu",
        "layer_norm_eps": eps,
        "attn_type": "bi",
        "untie_r": True,
        "mem_len": None,
        "clamp_len": -1,
        "same_length": False,
        "bi_data": False,
        "use_mems_eval": False,
    }


def _deberta_v2(state: dict[str, np.ndarray], facts: GraphFacts, source: str, eps: float) -> dict:
    """DeBERTa-v2/v3. Not in the weights, taken as every released v3 model has them:
    ``pos_att_type`` p2c+c2p, ``max_position_embeddings`` 512 (it only matters for relative
    distances beyond half the buckets, where the log buckets start)."""
    word = _need(state, "embeddings.word_embeddings.weight", source)
    hidden = int(word.shape[1])
    relative = state.get("encoder.rel_embeddings.weight")
    types = state.get("embeddings.token_type_embeddings.weight")
    conv = state.get("encoder.conv.conv.weight")
    config: dict[str, Any] = {
        "vocab_size": int(word.shape[0]),
        "hidden_size": hidden,
        "num_hidden_layers": _count(state, r"encoder\.layer\.(\d+)\.", source),
        "num_attention_heads": _heads(facts, hidden, source),
        "intermediate_size": int(
            _need(state, "encoder.layer.0.intermediate.dense.weight", source).shape[0]
        ),
        "hidden_act": facts.activation or "gelu",
        "layer_norm_eps": eps,
        "max_position_embeddings": 512,
        "type_vocab_size": int(types.shape[0]) if types is not None else 0,
        "position_biased_input": "embeddings.position_embeddings.weight" in state,
        "relative_attention": relative is not None,
        "pos_att_type": ["p2c", "c2p"] if relative is not None else None,
        "share_att_key": "encoder.layer.0.attention.self.pos_key_proj.weight" not in state,
        "norm_rel_ebd": "layer_norm" if "encoder.LayerNorm.weight" in state else "none",
        "pad_token_id": 0,
    }
    if "embeddings.position_embeddings.weight" in state:
        config["max_position_embeddings"] = int(
            state["embeddings.position_embeddings.weight"].shape[0]
        )
    if relative is not None:
        config["position_buckets"] = int(relative.shape[0]) // 2
    if conv is not None:
        config["conv_kernel_size"] = int(conv.shape[-1])
        config["conv_act"] = "gelu"
    return config
