"""The rules of the two semantics of Spark NLP transformer zips
(:class:`~modelhub.loaders.sparknlp.transformer.model.SparkNlpTransformerModel`): which ids
the mask drops, and how a sentence vector is pooled, per family and engine.

``semantics="sparknlp"`` (default): what Spark NLP gives for a text processed alone (a batch
of one). Word-level annotators (DistilBERT, RoBERTa, XLM-R, CamemBERT, DeBERTa, ALBERT, ...)
re-tokenize each Spark NLP token alone and give each token its **first piece's** vector;
the attention mask follows the family's rule for the engine (``id != 0``, which masks
RoBERTa's ``<s>`` in its ONNX graph and XLM-R's in ONNX and OpenVINO; ``id != 1`` for MPNet
and XLM-R-Sentence, whose ``<unk>`` is id 1 too, so unknown pieces are masked; ``id != pad``);
sentence annotators pool as Spark NLP does for the engine (``families`` S2, from Spark NLP's
Scala, open-points §1-§5):

- masked mean (``LinAlg.avgPooling``, denominator clamped at 1e-9) then L2: RoBERTa- and
  XLM-R-Sentence (ONNX, OpenVINO), E5, MPNet, MiniLM, BGE ONNX with ``useCLSToken=false``,
  and BGE OpenVINO whatever the flag (its OpenVINO path ignores it);
- BGE ONNX with ``useCLSToken`` true, or absent from the metadata (a zip saved before
  5.5.3; 5.5.3+ applies the param's default, true): row 0 of ``last_hidden_state``, then
  L2. Spark NLP before 5.5.3 mean-pooled every BGE zip with an all-ones mask;
- Mxbai / UAE: ``poolingStrategy`` (``cls``, ``cls_avg``, ``last``, ``avg``, ``max`` or an
  index), **no** L2;
- Nomic: the graph's ``sentence_embedding`` as is (Spark NLP neither pools nor normalises
  it; whether the graph's last module normalises is the model's business);
- Instructor: mean over the tokens after the ``instruction`` param's tokens, then L2, no
  Dense layer (the zip has none);
- ``pooler_output``: BERT-, RoBERTa- and XLM-R-Sentence TensorFlow graphs;
- a graph output of rank 2 (an in-graph pooled export) is used as is, as Spark NLP's Scala
  uses the TensorFlow graphs of E5, BGE, MPNet and Instructor. What those graphs compute is
  unpublished (O2), so one that gives token states only is pooled as the family's ONNX
  output is (research §3.3's rule for rank-3 outputs; for BGE by ``useCLSToken``).

``encode()`` of a word-level annotator averages its token vectors (Spark NLP's
``SentenceEmbeddings`` with ``AVERAGE``); an empty text gives zeros.

Batch-dependent quirks are documented, not reproduced (``families`` S9):
``LinAlg.avgPooling`` pools **every** row of a batch with the mask of the batch's first row
and divides by that row's token count, so with a padding mask a later row's mean covers the
first row's positions (its own padding when the first row is longer, fewer of its tokens
when shorter); and masks computed on padded batches (pad 1 attended under ``id != 0``,
MPNet's zero padding attended under ``id != 1``) change a row's vector with its batch mates.
Here every row's mask is its own rule on its real tokens and 0 on padding, so batches give
what one-by-one runs give (to 1e-5), which is what Spark NLP gives for a batch of one (or
of rows with the same mask).

``semantics="huggingface"``: the upstream model's own behaviour, as transformers and
sentence-transformers compute it: the upstream tokenizer rebuilt from the same files (with
its special-token template, ``tokenizer.huggingface()``), attention mask 1 on every real
token, token vectors = ``last_hidden_state`` per piece, and ``encode()`` pooled as the
upstream sentence-transformers configuration does: CLS + L2 for BGE, CLS for Mxbai and UAE,
mean + L2 for E5, MPNet, MiniLM and Nomic, Instructor's mean over non-instruction tokens + L2,
and sentence-transformers' default (mean over the pieces, specials included, no L2) for the
rest.

Still open (``families`` O2): what the published TensorFlow graphs of E5/BGE/MPNet/
Instructor compute after the encoder (check the norm of a real zip's output: about 1 means
an in-graph L2), and whether Nomic's graph ends in a Normalize module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from modelhub.errors import ArtifactFormatError, OptionError
from modelhub.loaders.model import l2_normalize
from modelhub.loaders.sparknlp.families.records import (
    CLS_OR_MEAN_L2,
    IN_GRAPH,
    POOLER_OUTPUT,
    STRATEGY,
)
from modelhub.loaders.sparknlp.tokenizers import spark_tokens
from modelhub.loaders.tokens import TokenEmbeddings

if TYPE_CHECKING:
    from modelhub.loaders.sparknlp.tokenizers import Encoded
    from modelhub.loaders.sparknlp.transformer.model import SparkNlpTransformerModel
    from modelhub.loaders.sparknlp.zipmodel import SparkNlpZip

_TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")

#: Upstream sentence pooling (semantics="huggingface"): family -> (pooling, L2).
UPSTREAM_POOLING: dict[str, tuple[str, bool]] = {
    "bge": ("cls", True),
    "mxbai": ("cls", False),
    "uae": ("cls", False),
    "e5": ("mean", True),
    "mpnet": ("mean", True),
    "minilm": ("mean", True),
    "nomic": ("mean", True),
    "instructor": ("instructor", True),
}


@dataclass
class Row:
    """One text made ready: ids with specials, its own mask, its pieces."""

    ids: list[int]
    mask: list[int]
    prefix: int  # how many special ids come first
    pieces: Encoded
    kept: int  # pieces kept after truncation
    pooled_from: int = 0  # Instructor: the first position the mean covers
    out: dict[str, np.ndarray] = field(default_factory=dict)


def masked_ids(rule: str, pad_id: int) -> frozenset[int]:
    """The ids a family's mask rule (``families`` ``masks``) sets to 0 among real tokens."""
    text = rule.strip().lower()
    if text.startswith("all ones"):
        return frozenset()
    if text.startswith("id != pad"):
        return frozenset({pad_id})
    if text.startswith("id != "):
        head = text[len("id != ") :].split()[0].rstrip(";,")
        if head.isdigit():
            return frozenset({int(head)})
    return frozenset()


def pooling_rule(art: SparkNlpZip, semantics: str, engine: str | None = None) -> str:
    """``words``, ``pooler``, ``graph``, ``strategy``, ``instructor``, ``cls``/``cls_l2``
    or ``mean``/``mean_l2``: how ``encode()`` pools (see the module docstring)."""
    fam = art.family
    if semantics == "huggingface":
        how, l2 = UPSTREAM_POOLING.get(fam.family, ("mean", False))
        return how if how == "instructor" else how + ("_l2" if l2 else "")
    if fam.level != "sentence":
        return "words"
    rule = fam.pooling_for(engine or art.engine)
    if fam.family == "instructor" and rule != IN_GRAPH:
        return "instructor"
    if rule == POOLER_OUTPUT:
        return "pooler"
    if rule.startswith(IN_GRAPH):
        return "graph"
    if rule == STRATEGY:
        return "strategy"
    if rule == CLS_OR_MEAN_L2:  # BGE ONNX; its OpenVINO path ignores the flag
        return "cls_l2" if art.use_cls_token else "mean_l2"
    return "mean_l2"


def fallback_rule(art: SparkNlpZip, pooling: str) -> str | None:
    """For a graph that pools inside (E5/BGE/MPNet/Instructor TensorFlow exports) but gives
    token states only: the pooling Spark NLP applies to the same family's ONNX output
    (research §3.3's rule; Spark NLP's Scala uses the TF graph's [B, H] as is, and what
    the published graphs compute is unknown, open-points §5). For BGE that follows
    ``useCLSToken`` (default true): CLS + L2, or mean + L2 when the flag is false."""
    if pooling != "graph" or art.family.family == "nomic":
        return None
    return pooling_rule(art, "sparknlp", "onnx")


def masked_mean(mask: list[int], states: np.ndarray, start: int = 0) -> np.ndarray:
    """``LinAlg.avgPooling`` of one row: the mean over its mask (positions before ``start``
    left out), the denominator clamped at 1e-9."""
    m = np.asarray(mask, dtype=np.float32)
    m[:start] = 0
    total = (states * m[:, None]).sum(0)
    return (total / max(float(m.sum()), 1e-9)).astype(np.float32)


def strategy_pool(art: SparkNlpZip, mask: list[int], states: np.ndarray) -> np.ndarray:
    """Mxbai/UAE ``poolingStrategy`` over one row (``LinAlg`` pooling helpers), no L2."""
    how = art.pooling_strategy
    m = np.asarray(mask, dtype=np.float32)
    if how == "cls":
        return states[0]
    if how == "avg":
        return masked_mean(mask, states)
    if how == "cls_avg":
        return ((states[0] + masked_mean(mask, states)) / 2).astype(np.float32)
    if how == "last":
        return states[max(int(m.sum()) - 1, 0)]
    if how == "max":
        return (states * m[:, None]).max(0)
    index = int(how)
    if not 0 <= index < len(states):
        raise OptionError(
            f"{art.metadata.path}: poolingStrategy {index} is past the {len(states)} tokens "
            "of a text"
        )
    return states[index]


def word_vectors(
    model: SparkNlpTransformerModel, text: str, row: Row, pooling: str = "first"
) -> TokenEmbeddings:
    """First piece (or mean of the pieces) per word: Spark NLP tokens (sparknlp, word
    level) or the tokenizer's words (otherwise)."""
    states = model._states(row)
    pieces = row.pieces
    spark = model.semantics == "sparknlp" and not model.sentence_level
    tokens = spark_tokens(text) if spark else []  # [begin, end) spans
    words: dict[int, tuple[int, int]] = {}  # word -> (first piece, last piece)
    for p in range(row.kept):
        w = pieces.word_ids[p]
        if w is None:
            continue
        first, _ = words.get(w, (p, p))
        words[w] = (first, p)
    out_tokens: list[str] = []
    offsets: list[tuple[int, int]] = []
    vectors: list[np.ndarray] = []
    for w, (first, last) in words.items():
        if spark and w < len(tokens):
            begin, end = tokens[w]
            token = text[begin:end]
        else:
            begin, end = pieces.offsets[first][0], pieces.offsets[last][1]
            raw = text[begin:end]
            token = raw.strip()
            begin += len(raw) - len(raw.lstrip())
            end = begin + len(token)
        if not token:
            continue
        out_tokens.append(token)
        offsets.append((begin, end))
        if pooling == "mean":
            vectors.append(states[row.prefix + first : row.prefix + last + 1].mean(0))
        else:
            vectors.append(states[row.prefix + first])
    array = np.stack(vectors) if vectors else np.zeros((0, model.dim), dtype=np.float32)
    return TokenEmbeddings(out_tokens, offsets, array.astype(np.float32, copy=False))


def sentence_vector(model: SparkNlpTransformerModel, text: str, row: Row) -> np.ndarray:
    rule = model.pooling
    if rule == "pooler":
        return row.out["pooler_output"]
    for name in ("sentence_embedding", *_TOKEN_OUTPUTS):
        value = row.out.get(name)
        if value is not None and value.ndim == 1:
            return value  # pooled inside the graph (never the pooler_output)
    if rule == "graph":
        if model._graph_fallback is None:
            raise ArtifactFormatError(
                f"{model.art.engine_file}: no pooled output (outputs: "
                f"{', '.join(model.runner.outputs)}; expected sentence_embedding)"
            )
        rule = model._graph_fallback
    if rule == "words":
        found = word_vectors(model, text, row).vectors
        if not len(found):
            return np.zeros(model.dim, dtype=np.float32)
        return found.mean(0).astype(np.float32)
    states = model._states(row)
    if rule == "strategy":
        return strategy_pool(model.art, row.mask, states)
    if rule in ("cls", "cls_l2"):
        vector = states[0]
    elif rule == "instructor":
        vector = model._mean(row, states, row.pooled_from)
    else:  # mean, mean_l2
        vector = model._mean(row, states)
    if rule.endswith("_l2") or rule == "instructor":
        vector = l2_normalize(vector[None])[0]
    return vector.astype(np.float32, copy=False)


__all__ = [
    "UPSTREAM_POOLING",
    "Row",
    "fallback_rule",
    "masked_ids",
    "masked_mean",
    "pooling_rule",
    "sentence_vector",
    "strategy_pool",
    "word_vectors",
]
