"""Every Spark NLP transformer-embeddings family, from its zip, behind the one model interface
(:class:`~modelhub.loaders.model.EmbeddingModel`): a tokenizer from the zip's own files
(:mod:`.transformer_tokens`), a :class:`~modelhub.loaders.sparknlp.runners.Runner` for its
engine, and the family's rules from :mod:`modelhub.loaders.sparknlp.families`.

Two semantics
-------------
``semantics="sparknlp"`` (default): what Spark NLP gives for a text processed alone (a batch
of one). Word-level annotators (DistilBERT, RoBERTa, XLM-R, CamemBERT, DeBERTa, ALBERT, ...)
re-tokenize each Spark NLP token alone and give each token its **first piece's** vector;
the attention mask follows the family's rule for the engine (``id != 0``, which masks
RoBERTa/XLM-R's ``<s>`` in their ONNX graphs; all ones for BGE/Nomic; ``id != 1`` for MPNet;
``id != pad``); sentence annotators pool as Spark NLP does for the engine:

- masked mean (``LinAlg.avgPooling``, denominator clamped at 1e-9) then L2: RoBERTa- and
  XLM-R-Sentence, E5, MPNet, MiniLM, BGE without ``useCLSToken``;
- BGE with ``useCLSToken=true`` (saved by 5.5.3+): the first token, then L2 (assumed, O2);
- Mxbai / UAE: ``poolingStrategy`` (``cls``, ``cls_avg``, ``last``, ``avg``, ``max`` or an
  index), **no** L2;
- Nomic: the graph's ``sentence_embedding`` as is;
- Instructor: mean over the tokens after the ``instruction`` param's tokens, then L2, no
  Dense layer (the zip has none);
- a graph output of rank 2 (an in-graph pooled export) is used as is; a TensorFlow graph
  of a family that pools in-graph (E5, BGE, MPNet, Instructor) but gives token states only
  is pooled as the family's ONNX output is (research §3.3's rule for rank-3 outputs).

``encode()`` of a word-level annotator averages its token vectors (Spark NLP's
``SentenceEmbeddings`` with ``AVERAGE``); an empty text gives zeros.

Batch-dependent quirks are documented, not reproduced: ``LinAlg.avgPooling`` expands the
first row's mask to every row, and masks computed on padded batches (pad 1 attended under
``id != 0``, MPNet's zero padding attended under ``id != 1``) change a row's vector with its
batch mates. Here every row's mask is its own rule on its real tokens and 0 on padding, so
batches give what one-by-one runs give (to 1e-5).

``semantics="huggingface"``: the upstream model's own behaviour, as transformers and
sentence-transformers compute it: the upstream tokenizer rebuilt from the same files (with
its special-token template, ``tokenizer.huggingface()``), attention mask 1 on every real
token, token vectors = ``last_hidden_state`` per piece, and ``encode()`` pooled as the
upstream sentence-transformers configuration does: CLS + L2 for BGE, CLS for Mxbai and UAE,
mean + L2 for E5, MPNet, MiniLM and Nomic, Instructor's mean over non-instruction tokens + L2,
and sentence-transformers' default (mean over the pieces, specials included, no L2) for the
rest.

Open points of the research (its section 9) this module relies on, as checked in Spark NLP's
sources through the public code index: both stored versions of ``ml/ai/E5.scala``
(@1db94d21, @507e5509) predate PR #14051 and return ``last_hidden_state`` unpooled; the
newest sibling code (``BGE.scala`` idx 2131484635, ``MiniLM.scala``, ``MPNet.scala``,
``RoBerta.scala`` idx 3540551258) pools as ``LinAlg.avgPooling`` then ``LinAlg.l2Normalize``,
which is what E5 and XLM-R-Sentence get here (still unproven on a real zip: O2). BGE's
``useCLSToken`` Scala (PR #14511) is not in the index; its CLS path here adds L2 as the BGE
reference does (O2). A zip saved before the param existed has no ``useCLSToken`` in its
metadata and is mean-pooled, as Spark NLP then did. Nomic's pooling is inside its graph.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError, OptionError
from modelhub.loaders.model import EmbeddingModel, Progress, _no_progress, check_texts, l2_normalize
from modelhub.loaders.sparknlp.families.records import IN_GRAPH, POOLER_OUTPUT, STRATEGY
from modelhub.loaders.sparknlp.runners import Runner, open_runner
from modelhub.loaders.sparknlp.tokenizers import Encoded, make_tokenizer, spark_tokens
from modelhub.loaders.sparknlp.zipmodel import SparkNlpZip, open_model
from modelhub.loaders.tokens import TokenEmbeddings

log = logging.getLogger(__name__)

Semantics = Literal["sparknlp", "huggingface"]
SEMANTICS: tuple[str, ...] = ("sparknlp", "huggingface")

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
_TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")


@dataclass
class _Row:
    """One text made ready: ids with specials, its own mask, its pieces."""

    ids: list[int]
    mask: list[int]
    prefix: int  # how many special ids come first
    pieces: Encoded
    kept: int  # pieces kept after truncation
    pooled_from: int = 0  # Instructor: the first position the mean covers
    out: dict[str, np.ndarray] = field(default_factory=dict)


def _masked_ids(rule: str, pad_id: int) -> frozenset[int]:
    """The ids a family's mask rule sets to 0 among real tokens."""
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


class SparkNlpTransformerModel(EmbeddingModel):
    """A Spark NLP transformer-embeddings zip, loaded (see the module docstring). Build it
    with :func:`load` (or ``modelhub.pretrained`` / ``modelhub.load``)."""

    def __init__(
        self,
        *,
        art: SparkNlpZip,
        runner: Runner,
        tokenizer: Any,
        record: ModelCard | None = None,
        semantics: Semantics = "sparknlp",
        max_length: int | None = None,
        batch_size: int = 32,
        normalize: bool = False,
    ) -> None:
        if semantics not in SEMANTICS:
            raise OptionError(f"semantics={semantics!r}: use 'sparknlp' or 'huggingface'")
        if batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, not {batch_size}")
        self.art = art
        self.family = art.family
        self.runner = runner
        self.tokenizer = tokenizer
        self.record = record
        self.semantics = semantics
        self.batch_size = batch_size
        self.normalize = normalize
        self.engine = art.engine
        chosen = max_length or art.max_sentence_length or 512
        if chosen < 3:
            raise OptionError(f"max_length must be at least 3, not {chosen}")
        self._max_length = int(chosen)
        self._lock = threading.Lock()
        self._hf: Any = None
        self._hf_specials: tuple[list[int], list[int]] = ([], [])
        self._masked = _masked_ids(self.family.mask_for(art.engine), int(tokenizer.pad_id))
        self.pooling = self._pooling_rule()
        self._graph_fallback = self._fallback_rule()
        #: Whether the model's own pooling ends in an L2 normalization.
        self.normalizes = (self._graph_fallback or self.pooling) in (
            "mean_l2",
            "cls_l2",
            "instructor",
        )
        if self.pooling == "pooler" and "pooler_output" not in runner.outputs:
            raise ArtifactFormatError(
                f"{art.engine_file}: the {art.engine} graph has no output 'pooler_output' "
                f"(outputs: {', '.join(runner.outputs)}); {self.family.annotator} pools with it"
            )

    # ------------------------------------------------------------------ rules
    @property
    def sentence_level(self) -> bool:
        return self.family.level == "sentence"

    def _pooling_rule(self, engine: str | None = None) -> str:
        fam = self.family
        if self.semantics == "huggingface":
            how, l2 = UPSTREAM_POOLING.get(fam.family, ("mean", False))
            return how if how == "instructor" else how + ("_l2" if l2 else "")
        if not self.sentence_level:
            return "words"
        rule = fam.pooling_for(engine or self.engine)
        if fam.family == "instructor" and rule != IN_GRAPH:
            return "instructor"
        if rule == POOLER_OUTPUT:
            return "pooler"
        if rule.startswith(IN_GRAPH):
            return "graph"
        if rule == STRATEGY:
            return "strategy"
        if fam.family == "bge" and self.art.use_cls_token:
            return "cls_l2"
        return "mean_l2"

    def _fallback_rule(self) -> str | None:
        """For a graph that pools inside (E5/BGE/MPNet/Instructor TensorFlow exports) but
        gives token states only: the pooling Spark NLP applies to the same family's ONNX
        output (research §3.3's rule: a rank-3 output is mean-pooled, then L2)."""
        if self.pooling != "graph" or self.family.family == "nomic":
            return None
        return self._pooling_rule("onnx")

    # ------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return self.record.name if self.record is not None else self.art.root.name

    @property
    def dim(self) -> int:
        return int(self.runner.hidden_size)

    @property
    def max_length(self) -> int:
        return self._max_length

    def describe(self) -> dict[str, Any]:
        out = self.art.describe()
        out.update(
            name=self.name,
            semantics=self.semantics,
            dimension=self.dim,
            max_length=self.max_length,
            pooling=self.pooling,
            runner_outputs=list(self.runner.outputs),
        )
        return out

    def __repr__(self) -> str:
        return (
            f"SparkNlpTransformerModel({self.name!r}, {self.art.annotator}, engine={self.engine}, "
            f"semantics={self.semantics}, dim={self.dim})"
        )

    # -------------------------------------------------------------- tokenizing
    def _hf_tokenizer(self) -> Any:
        if self._hf is None:
            with self._lock:
                if self._hf is None:
                    tok = self.tokenizer.huggingface()
                    tok.no_truncation()
                    tok.no_padding()
                    probe = tok.encode("a", add_special_tokens=True)
                    real = [i for i, s in enumerate(probe.special_tokens_mask) if not s]
                    first, last = (real[0], real[-1]) if real else (len(probe.ids),) * 2
                    self._hf_specials = (list(probe.ids[:first]), list(probe.ids[last + 1 :]))
                    self._hf = tok
        return self._hf

    def _encode_text(self, text: str) -> tuple[Encoded, list[int], list[int]]:
        if self.semantics == "huggingface":
            tok = self._hf_tokenizer()
            enc = tok.encode(text, add_special_tokens=False)
            pieces = Encoded(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))
            return pieces, *self._hf_specials
        tok = self.tokenizer
        if self.sentence_level:
            pieces = tok.encode_sentence(text, self._max_length)
        else:
            pieces = tok.encode_words(text)
        return pieces, list(tok.prefix), list(tok.suffix)

    def _row(self, text: str) -> _Row:
        instruction = self.art.instruction if self.family.family == "instructor" else ""
        pieces, prefix, suffix = self._encode_text(instruction + text)
        room = max(self._max_length - len(prefix) - len(suffix), 0)
        kept = min(len(pieces.ids), room)
        ids = prefix + list(pieces.ids[:kept]) + suffix
        if self.semantics == "sparknlp":
            mask = [0 if i in self._masked else 1 for i in ids]
        else:
            mask = [1] * len(ids)
        start = 0
        if instruction:
            start = len(prefix) + min(len(self._encode_text(instruction)[0].ids), kept)
        return _Row(ids, mask, len(prefix), pieces, kept, start)

    # ----------------------------------------------------------------- running
    def _run(self, rows: list[_Row], batch_size: int, progress: Progress = _no_progress) -> None:
        """Fills ``row.out`` (each output cut to the row's own length) for every row, in
        batches of similar length; padding is masked out, so batches change nothing."""
        order = sorted(range(len(rows)), key=lambda k: len(rows[k].ids))
        pad = int(self.tokenizer.pad_id)
        for start in range(0, len(order), batch_size):
            batch = [rows[k] for k in order[start : start + batch_size]]
            width = max(len(r.ids) for r in batch)
            ids = np.full((len(batch), width), pad, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for j, r in enumerate(batch):
                ids[j, : len(r.ids)] = r.ids
                mask[j, : len(r.ids)] = r.mask
            outputs = self.runner(ids, mask, None)
            for j, r in enumerate(batch):
                r.out = {
                    name: (value[j, : len(r.ids)] if value.ndim == 3 else value[j])
                    for name, value in outputs.items()
                }
            progress(len(batch))

    def _states(self, row: _Row) -> np.ndarray:
        for name in _TOKEN_OUTPUTS:
            value = row.out.get(name)
            if value is not None and value.ndim == 2:
                return value
        raise ArtifactFormatError(
            f"{self.art.engine_file}: the {self.engine} graph gives no token vectors "
            f"(outputs: {', '.join(self.runner.outputs)}; expected last_hidden_state)"
        )

    def _rows(self, texts: list[str], batch_size: int, progress: Progress) -> list[_Row]:
        rows = [self._row(t) for t in texts]
        self._run(rows, batch_size, progress)
        return rows

    # ----------------------------------------------------------------- pooling
    def _mean(self, row: _Row, states: np.ndarray, start: int = 0) -> np.ndarray:
        mask = np.asarray(row.mask, dtype=np.float32)
        mask[:start] = 0
        total = (states * mask[:, None]).sum(0)
        return (total / max(float(mask.sum()), 1e-9)).astype(np.float32)

    def _strategy(self, row: _Row, states: np.ndarray) -> np.ndarray:
        how = self.art.pooling_strategy
        mask = np.asarray(row.mask, dtype=np.float32)
        if how == "cls":
            return states[0]
        if how == "avg":
            return self._mean(row, states)
        if how == "cls_avg":
            return ((states[0] + self._mean(row, states)) / 2).astype(np.float32)
        if how == "last":
            return states[max(int(mask.sum()) - 1, 0)]
        if how == "max":
            return (states * mask[:, None]).max(0)
        index = int(how)
        if not 0 <= index < len(states):
            raise OptionError(
                f"{self.art.metadata.path}: poolingStrategy {index} is past the "
                f"{len(states)} tokens of a text"
            )
        return states[index]

    def _word_vectors(self, text: str, row: _Row, pooling: str = "first") -> TokenEmbeddings:
        """First piece (or mean of the pieces) per word: Spark NLP tokens (sparknlp, word
        level) or the tokenizer's words (otherwise)."""
        states = self._states(row)
        pieces = row.pieces
        spark = self.semantics == "sparknlp" and not self.sentence_level
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
        array = np.stack(vectors) if vectors else np.zeros((0, self.dim), dtype=np.float32)
        return TokenEmbeddings(out_tokens, offsets, array.astype(np.float32, copy=False))

    def _sentence_vector(self, text: str, row: _Row) -> np.ndarray:
        rule = self.pooling
        if rule == "pooler":
            return row.out["pooler_output"]
        for name in ("sentence_embedding", *_TOKEN_OUTPUTS):
            value = row.out.get(name)
            if value is not None and value.ndim == 1:
                return value  # pooled inside the graph (never the pooler_output)
        if rule == "graph":
            if self._graph_fallback is None:
                raise ArtifactFormatError(
                    f"{self.art.engine_file}: no pooled output (outputs: "
                    f"{', '.join(self.runner.outputs)}; expected sentence_embedding)"
                )
            rule = self._graph_fallback
        if rule == "words":
            found = self._word_vectors(text, row).vectors
            if not len(found):
                return np.zeros(self.dim, dtype=np.float32)
            return found.mean(0).astype(np.float32)
        states = self._states(row)
        if rule == "strategy":
            return self._strategy(row, states)
        if rule in ("cls", "cls_l2"):
            vector = states[0]
        elif rule == "instructor":
            vector = self._mean(row, states, row.pooled_from)
        else:  # mean, mean_l2
            vector = self._mean(row, states)
        if rule.endswith("_l2") or rule == "instructor":
            vector = l2_normalize(vector[None])[0]
        return vector.astype(np.float32, copy=False)

    # ------------------------------------------------------------------ public
    def _encode_texts(
        self,
        texts: list[str],
        *,
        batch_size: int,
        output_value: str,
        progress: Progress,
    ) -> np.ndarray | list[np.ndarray]:
        if not texts:
            if output_value == "token_embeddings":
                return []
            return np.zeros((0, self.sentence_dim), dtype=np.float32)
        rows = self._rows(texts, batch_size, progress)
        if output_value == "token_embeddings":
            return [self._states(r) for r in rows]
        return np.stack([self._sentence_vector(t, r) for t, r in zip(texts, rows, strict=True)])

    def embed(
        self,
        texts: Sequence[str],
        *,
        pooling: str = "first",
        batch_size: int | None = None,
        normalize: bool | None = None,
    ) -> list[TokenEmbeddings]:
        """Word-level tokens with offsets and one vector each: the first piece's (Spark NLP's
        rule) or, with ``pooling="mean"``, the mean of the token's pieces. The words are
        Spark NLP tokens under ``semantics="sparknlp"`` for word-level annotators, the
        tokenizer's words otherwise. Tokens past ``max_length`` get no vector, as in
        Spark NLP."""
        if pooling not in ("first", "mean"):
            raise OptionError(f"pooling={pooling!r}: use 'first' or 'mean'")
        items = check_texts(texts, "texts")
        rows = self._rows(items, batch_size or self.batch_size, _no_progress)
        out = [self._word_vectors(t, r, pooling) for t, r in zip(items, rows, strict=True)]
        if normalize if normalize is not None else self.normalize:
            out = [
                TokenEmbeddings(e.tokens, e.offsets, l2_normalize(e.vectors)) if len(e) else e
                for e in out
            ]
        return out

    def embed_sentences(
        self,
        texts: Sequence[str],
        *,
        pooling: str | None = None,
        batch_size: int | None = None,
        normalize: bool | None = None,
    ) -> np.ndarray:
        """One vector per text: the pooling of this model's semantics (``pooling=None``,
        see the module docstring, as ``encode()``), or ``"mean"`` (masked mean of the token
        states, specials included) or ``"cls"`` (the first state), without L2;
        ``normalize=True`` adds an L2 normalization."""
        if pooling not in (None, "mean", "cls"):
            raise OptionError(f"pooling={pooling!r}: use None (the model's own), 'mean' or 'cls'")
        items = check_texts(texts, "texts")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        bs = batch_size or self.batch_size
        if pooling is None:
            out = self._encode_texts(
                items, batch_size=bs, output_value="sentence_embedding", progress=_no_progress
            )
            assert isinstance(out, np.ndarray)
        else:
            rows = self._rows(items, bs, _no_progress)
            out = np.stack(
                [
                    self._states(r)[0] if pooling == "cls" else self._mean(r, self._states(r))
                    for r in rows
                ]
            )
        wanted = self.normalize if normalize is None else normalize
        return l2_normalize(out) if wanted else out


def load(
    path: Path,
    record: ModelCard | None = None,
    *,
    semantics: Semantics = "sparknlp",
    device: Any = "auto",
    dtype: Any = "auto",
    max_length: int | None = None,
    batch_size: int = 32,
    normalize: bool = False,
    num_threads: int | None = None,
) -> SparkNlpTransformerModel:
    """Load an unpacked Spark NLP transformer-embeddings zip (any family and engine this
    install has a runner for). ``semantics``: ``"sparknlp"`` or ``"huggingface"``."""
    if semantics not in SEMANTICS:
        raise OptionError(f"semantics={semantics!r}: use 'sparknlp' or 'huggingface'")
    if device not in (None, "auto", "cpu"):
        raise OptionError(f"device={device!r}: Spark NLP zips run on the CPU here; use 'cpu'")
    if dtype not in (None, "auto", "float32"):
        raise OptionError(f"dtype={dtype!r}: Spark NLP zips run in float32 here")
    art = open_model(Path(path))
    runner = open_runner(
        art.engine, art.engine_file, art.family, root=art.root, threads=num_threads
    )
    limit = max_length or art.max_sentence_length or 512
    tokenizer = make_tokenizer(
        art.family,
        vocabulary=art.vocabulary(),
        merges=art.merges(),
        spp=art.spp(),
        case_sensitive=art.case_sensitive,
        max_length=limit,
    )
    if art.dimension is not None and art.dimension != runner.hidden_size:
        log.warning(
            "%s: metadata says dimension %d, the %s graph gives %d; using %d (the weights win)",
            art.root, art.dimension, art.engine, runner.hidden_size, runner.hidden_size,
        )  # fmt: skip
    return SparkNlpTransformerModel(
        art=art,
        runner=runner,
        tokenizer=tokenizer,
        record=record,
        semantics=semantics,
        max_length=max_length,
        batch_size=batch_size,
        normalize=normalize,
    )


__all__ = ["SEMANTICS", "UPSTREAM_POOLING", "Semantics", "SparkNlpTransformerModel", "load"]
