"""Every Spark NLP transformer-embeddings family, from its zip, behind the one model interface
(:class:`~modelhub.loaders.model.EmbeddingModel`): a tokenizer from the zip's own files
(:mod:`modelhub.loaders.sparknlp.tokenizers`), a runner for its engine
(:mod:`modelhub.loaders.sparknlp.runners`), and the family's rules from
:mod:`modelhub.loaders.sparknlp.families` and :mod:`modelhub.loaders.sparknlp.semantics`.

Two semantics
-------------
``semantics="sparknlp"`` (default): what Spark NLP gives for a text processed alone (a batch
of one): word-level annotators give each Spark NLP token its first piece's vector, with the
family's mask rule for the engine; sentence annotators pool as Spark NLP does for the engine
(the rules, and the batch-dependent quirks documented rather than reproduced, are in
:mod:`modelhub.loaders.sparknlp.semantics`). Batches give what one-by-one runs give.

``semantics="huggingface"``: the upstream model's own behaviour, as transformers and
sentence-transformers compute it (upstream tokenizer and template, mask of ones,
``last_hidden_state`` per piece, the upstream pooling of
:data:`~modelhub.loaders.sparknlp.semantics.UPSTREAM_POOLING`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError, OptionError
from modelhub.loaders.model import EmbeddingModel, Progress, _no_progress, check_texts, l2_normalize
from modelhub.loaders.sparknlp.prepared import prepare
from modelhub.loaders.sparknlp.runners import Runner, open_runner
from modelhub.loaders.sparknlp.semantics import (
    Row,
    fallback_rule,
    masked_ids,
    masked_mean,
    pooling_rule,
    sentence_vector,
    word_vectors,
)
from modelhub.loaders.sparknlp.tokenizers import Encoded, make_tokenizer
from modelhub.loaders.sparknlp.zipmodel import SparkNlpZip, open_model
from modelhub.loaders.tokens import TokenEmbeddings

log = logging.getLogger(__name__)

Semantics = Literal["sparknlp", "huggingface"]
SEMANTICS: tuple[str, ...] = ("sparknlp", "huggingface")
_TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")


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
        self._instruction_len: int | None = None
        self._masked = masked_ids(self.family.mask_for(art.engine), int(tokenizer.pad_id))
        self.pooling = pooling_rule(art, semantics)
        self._graph_fallback = fallback_rule(art, self.pooling)
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

    def _row(self, text: str) -> Row:
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
            start = len(prefix) + min(self._instruction_pieces(instruction), kept)
        return Row(ids, mask, len(prefix), pieces, kept, start)

    def _instruction_pieces(self, instruction: str) -> int:
        # the same for every row: tokenized once, not once per text
        if self._instruction_len is None:
            self._instruction_len = len(self._encode_text(instruction)[0].ids)
        return self._instruction_len

    # ----------------------------------------------------------------- running
    def _run(self, rows: list[Row], batch_size: int, progress: Progress = _no_progress) -> None:
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

    def _states(self, row: Row) -> np.ndarray:
        for name in _TOKEN_OUTPUTS:
            value = row.out.get(name)
            if value is not None and value.ndim == 2:
                return value
        raise ArtifactFormatError(
            f"{self.art.engine_file}: the {self.engine} graph gives no token vectors "
            f"(outputs: {', '.join(self.runner.outputs)}; expected last_hidden_state)"
        )

    def _rows(self, texts: list[str], batch_size: int, progress: Progress) -> list[Row]:
        rows = [self._row(t) for t in texts]
        self._run(rows, batch_size, progress)
        return rows

    # ----------------------------------------------------------------- pooling
    def _mean(self, row: Row, states: np.ndarray, start: int = 0) -> np.ndarray:
        return masked_mean(row.mask, states, start)

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
        return np.stack([sentence_vector(self, t, r) for t, r in zip(texts, rows, strict=True)])

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
        out = [word_vectors(self, t, r, pooling) for t, r in zip(items, rows, strict=True)]
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
    derived_dir: Path | None = None,
) -> SparkNlpTransformerModel:
    """Load an unpacked Spark NLP transformer-embeddings zip (any family and engine this
    install has a runner for). ``semantics``: ``"sparknlp"`` or ``"huggingface"``;
    ``derived_dir``: where the engine and tokenizer files are kept prepared for the next
    loads (:mod:`~modelhub.loaders.sparknlp.prepared`; None: read from the zip each time)."""
    if semantics not in SEMANTICS:
        raise OptionError(f"semantics={semantics!r}: use 'sparknlp' or 'huggingface'")
    if device not in (None, "auto", "cpu"):
        raise OptionError(f"device={device!r}: Spark NLP zips run on the CPU here; use 'cpu'")
    if dtype not in (None, "auto", "float32"):
        raise OptionError(f"dtype={dtype!r}: Spark NLP zips run in float32 here")
    art = open_model(Path(path))
    if art.family.family == "instructor":
        _ = art.instruction  # a hostile one is refused at load, not at the first text
    prepared = None
    if derived_dir is not None:
        convert = None
        if art.engine == "tensorflow":
            # kept converted: no checkpoint or GraphDef parsed on later loads
            from modelhub.loaders.sparknlp.runners.tensorflow import write_converted

            def convert(folder: Path) -> None:
                write_converted(art.engine_file, art.family, folder)

        prepared = prepare(art, derived_dir, convert=convert)
    runner = open_runner(
        art.engine,
        art.engine_file,
        art.family,
        root=art.root,
        threads=num_threads,
        unpacked=prepared.engine if prepared is not None else None,
        plain_graph=prepared.plain_graph if prepared is not None else None,
    )
    limit = max_length or art.max_sentence_length or 512
    tokenizer = make_tokenizer(
        art.family,
        vocabulary=prepared.vocabulary if prepared is not None else art.vocabulary(),
        merges=prepared.merges if prepared is not None else art.merges(),
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


__all__ = ["SEMANTICS", "Semantics", "SparkNlpTransformerModel", "load"]
