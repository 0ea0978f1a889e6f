"""BERT-family token and sentence embeddings (``bert`` loader's model).

Imported only by :meth:`modelhub.loaders.bert.BertLoader.load`. The hidden
states come from an :class:`~modelhub.loaders.model.Encoder` chosen at load
time (``engine=``, see :mod:`modelhub.loaders.engines`); everything here works
on numpy arrays.

Word-level tokens come from the tokenizer's own pre-tokenizer (``word_ids``
with character offsets); a word's vector is its first word piece, as in Spark
NLP, or the mean of its pieces with ``pooling="mean"``. Texts are encoded
without special tokens, cut to ``max_length`` (or into overlapping windows),
then the special tokens are put back, so both modes share one path
(:mod:`modelhub.loaders.windows`).

``encode()`` follows a sentence-transformers directory's ``modules.json``
(Pooling, Dense, Normalize; :mod:`modelhub.loaders.sentence_modules`); a
directory without one is mean-pooled (what sentence-transformers does too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError, OptionError
from modelhub.loaders.engines import check_engine, make_encoder
from modelhub.loaders.hf import HFDirectory, inspect_dir
from modelhub.loaders.hf_tokenizer import (
    config_dim,
    load_tokenizer,
    lowercase_first,
    tokenizer_lowercases,
)
from modelhub.loaders.model import (
    EmbeddingModel,
    Encoder,
    Progress,
    _no_progress,
    check_texts,
    l2_normalize,
)
from modelhub.loaders.runtime import check_device, check_dtype
from modelhub.loaders.sentence_modules import SentenceModules, pool, read_modules
from modelhub.loaders.tokens import TokenEmbeddings
from modelhub.loaders.windows import Overflow, Seq, batches, sequences, whole

log = logging.getLogger(__name__)

TokenPooling = Literal["first", "mean"]
SentencePooling = Literal["mean", "cls"]
Pool = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Models whose position ids start after the padding index (fairseq heritage):
# two positions fewer than max_position_embeddings are usable.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert"}

# kept for callers of the old private names
_check_texts = check_texts
_l2_normalize = l2_normalize


class BertEmbeddingsModel(EmbeddingModel):
    """A loaded BERT-family encoder. Build it with :meth:`from_directory` (or
    ``modelhub.pretrained``)."""

    def __init__(
        self,
        *,
        hf: HFDirectory,
        encoder: Encoder,
        tokenizer: Any,
        record: ModelCard | None,
        max_length: int,
        batch_size: int = 32,
        normalize: bool = False,
        overflow: Overflow = "truncate",
        stride: int | None = None,
        modules: SentenceModules | None = None,
    ) -> None:
        import torch  # the public device/dtype attributes are torch objects

        self.hf = hf
        self.encoder = encoder
        #: the engine's own model object (a transformers module for ``torch``)
        self.model: Any = getattr(encoder, "module", encoder)
        self.record = record
        self.device = torch.device(encoder.device)
        self.dtype = getattr(torch, encoder.dtype)
        self.batch_size = batch_size
        self.normalize = normalize
        self.overflow = overflow
        self.stride = stride
        self.modules = modules
        self.conflicts: list[str] = []
        self._max_length = max_length
        self._given_tokenizer = tokenizer
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._check_conflicts(lowercase=tokenizer_lowercases(hf, None))

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_directory(
        cls,
        path: str | Path,
        record: ModelCard | None = None,
        *,
        device: Any = "auto",
        dtype: Any = "auto",
        engine: str = "auto",
        batch_size: int = 32,
        max_length: int | None = None,
        normalize: bool = False,
        overflow: Overflow = "truncate",
        stride: int | None = None,
        num_threads: int | None = None,
        derived_dir: Path | None = None,
    ) -> BertEmbeddingsModel:
        """Load the transformers directory at ``path``. ``max_length`` (word
        pieces, special tokens included) defaults to the record's, then
        sentence-transformers' ``max_seq_length``, then the model's limit.
        ``engine`` computes the hidden states (``"auto"``, ``"torch"``,
        ``"onnx"``; see :mod:`modelhub.loaders.engines`); ``derived_dir`` is
        where the ONNX export is kept (``pretrained`` passes the cache entry's
        ``derived/`` folder; without one, ``"auto"`` runs torch)."""
        found = inspect_dir(Path(path))
        if isinstance(found, str):
            raise ArtifactFormatError(f"{path}: {found}")
        hf = found
        # Bad options fail before the weights are read.
        check_device(device)
        check_dtype(dtype)
        check_engine(engine)
        if batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, not {batch_size}")
        if overflow not in ("truncate", "window"):
            raise OptionError(f"overflow={overflow!r}: use 'truncate' or 'window'")
        modules = read_modules(hf.root)
        limit = cls._model_limit(hf)
        chosen = cls._default_max_length(hf, record, limit) if max_length is None else max_length
        if chosen > limit:
            raise OptionError(f"max_length={chosen} exceeds what {hf.root} supports ({limit})")
        started = time.perf_counter()
        encoder = make_encoder(
            engine,
            hf,
            device=device,
            dtype=dtype,
            num_threads=num_threads,
            derived_dir=None if derived_dir is None else Path(derived_dir),
        )
        self = cls(
            hf=hf,
            encoder=encoder,
            tokenizer=None,
            record=record,
            max_length=chosen,
            batch_size=batch_size,
            normalize=normalize,
            overflow=overflow,
            stride=stride,
            modules=modules,
        )
        log.info(
            "loaded %s (%s, dim %d) with %s on %s, compute %s, in %.2fs",
            hf.root,
            hf.model_type,
            self.dim,
            encoder.name,
            encoder.device,
            encoder.dtype,
            time.perf_counter() - started,
        )
        return self

    @staticmethod
    def _model_limit(hf: HFDirectory) -> int:
        limit = int(hf.config.get("max_position_embeddings", 512) or 512)
        if hf.model_type in _OFFSET_POSITIONS:
            limit -= int(hf.config.get("pad_token_id", 1) or 1) + 1
        tok_max = hf.tokenizer_config.get("model_max_length")
        if isinstance(tok_max, int) and 0 < tok_max < limit:
            limit = tok_max
        return limit

    @staticmethod
    def _default_max_length(hf: HFDirectory, record: ModelCard | None, limit: int) -> int:
        from_record = record.max_sentence_length if record is not None else None
        if isinstance(from_record, int) and from_record > 0:
            if from_record > limit:
                log.warning(
                    "the card of %s says max sentence length %d, but the model supports %d: "
                    "using %d",
                    record.name if record else hf.root,
                    from_record,
                    limit,
                    limit,
                )
                return limit
            return from_record
        st = hf.sentence_config.get("max_seq_length")
        if isinstance(st, int) and 0 < st <= limit:
            return st
        return limit

    @property
    def tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer``, loaded on first use: loading the
        weights is what ``load`` waits for (the tokenizer takes about as long
        again for a small model, and many callers only need the model)."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    value = self._given_tokenizer or load_tokenizer(self.hf)
                    if self.modules is not None and self.modules.do_lower_case:
                        lowercase_first(value)
                    self._prepare_specials(value)
                    self._tokenizer = value
                    if not isinstance(self.hf.tokenizer_config.get("do_lower_case"), bool):
                        self._check_conflicts(
                            lowercase=tokenizer_lowercases(self.hf, value), dim=False
                        )
        return self._tokenizer

    def _prepare_specials(self, tok: Any) -> None:
        probe = tok.encode("a", add_special_tokens=True)
        content = [i for i, s in enumerate(probe.special_tokens_mask) if not s]
        first, last = (content[0], content[-1]) if content else (len(probe.ids), len(probe.ids))
        self._prefix = list(probe.ids[:first])
        self._suffix = list(probe.ids[last + 1 :])
        pad = self.hf.config.get("pad_token_id")
        if not isinstance(pad, int):
            pad = tok.token_to_id("[PAD]") or tok.token_to_id("<pad>") or 0
        self._pad_id = int(pad)

    def _check_conflicts(self, *, lowercase: bool | None, dim: bool = True) -> None:
        r = self.record
        if r is None:
            return
        who = r.name or "the card"
        if dim and r.dimension is not None and self.dim != r.dimension:
            self._conflict(
                f"{who}: the card says dimension {r.dimension}, the artifact's config.json "
                f"says hidden_size {self.dim}; using {self.dim} (the artifact wins)"
            )
        if r.case_sensitive is not None and lowercase is not None and r.case_sensitive == lowercase:
            said = "case sensitive" if r.case_sensitive else "case insensitive"
            does = "lowercases" if lowercase else "keeps case"
            self._conflict(
                f"{who}: the card says {said}, but the artifact's tokenizer {does} "
                f"(do_lower_case={lowercase}); using the tokenizer (the artifact wins)"
            )

    def _conflict(self, message: str) -> None:
        self.conflicts.append(message)
        log.warning("%s", message)

    # -------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        found = config_dim(self.hf.config)
        if found is None:
            found = int(self.model.config.hidden_size)
        return found

    @property
    def sentence_dim(self) -> int:
        return self.modules.output_dim(self.dim) if self.modules is not None else self.dim

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def name(self) -> str:
        return self.record.name if self.record is not None else self.hf.root.name

    @property
    def engine_name(self) -> str:
        return str(self.encoder.name)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.hf.root),
            "model_type": self.hf.model_type,
            "dimension": self.dim,
            "sentence_dimension": self.sentence_dim,
            "max_length": self.max_length,
            "engine": self.engine_name,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "conflicts": list(self.conflicts),
        }

    def __repr__(self) -> str:
        return (
            f"BertEmbeddingsModel({self.name!r}, dim={self.dim}, engine={self.engine_name}, "
            f"device={self.device}, dtype={str(self.dtype).removeprefix('torch.')})"
        )

    # ---------------------------------------------------------------- encoding
    def _encode(self, texts: list[str]) -> list[Any]:
        return self.tokenizer.encode_batch(texts, add_special_tokens=False)

    def _sequences(
        self, lengths: Sequence[int], max_length: int, overflow: Overflow, *, keep_empty: bool
    ) -> list[Seq]:
        room = max_length - len(self._prefix) - len(self._suffix)
        return sequences(
            lengths,
            room,
            overflow,
            keep_empty=keep_empty,
            stride=self.stride,
            max_length=max_length,
        )

    def _rows(self, ids: list[list[int]], seqs: list[Seq], batch: list[int]) -> np.ndarray:
        """Right-padded int64 ids of ``batch``, special tokens put back."""
        prefix, suffix = self._prefix, self._suffix
        p, s = len(prefix), len(suffix)
        width = max(seqs[k].stop - seqs[k].start for k in batch) + p + s
        out = np.full((len(batch), width), self._pad_id, dtype=np.int64)
        for j, k in enumerate(batch):
            q = seqs[k]
            n = q.stop - q.start
            out[j, :p] = prefix
            out[j, p : p + n] = ids[q.text][q.start : q.stop]
            out[j, p + n : p + n + s] = suffix
        return out

    def _run(
        self,
        ids: list[list[int]],
        seqs: list[Seq],
        batch_size: int,
        *,
        pool_fn: Pool | None,
        full: set[int] | None = None,
        progress: Progress = _no_progress,
    ) -> list[Any]:
        """Run the encoder on ``seqs``; for each: its hidden states ``(len,
        dim)`` as float32 numpy (``pool_fn is None`` or its text in ``full``),
        or its pooled vector."""
        out: list[Any] = [None] * len(seqs)
        extra = len(self._prefix) + len(self._suffix)
        for batch in batches(seqs, batch_size, extra):
            input_ids = self._rows(ids, seqs, batch)
            lengths = np.array([seqs[k].stop - seqs[k].start + extra for k in batch])
            mask = (np.arange(input_ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
            hidden = self.encoder(input_ids, mask, None)
            pooled = pool_fn(hidden, mask) if pool_fn is not None else None
            for j, k in enumerate(batch):
                if pooled is not None and (full is None or seqs[k].text not in full):
                    out[k] = pooled[j]
                else:
                    out[k] = hidden[j, : lengths[j]]
            progress(sum(1 for k in batch if seqs[k].last))
        return out

    def _by_text(self, seqs: list[Seq]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for k, q in enumerate(seqs):
            groups.setdefault(q.text, []).append(k)
        return groups

    def _pooled(
        self,
        items: list[str],
        *,
        modes: tuple[str, ...],
        batch_size: int,
        max_length: int,
        overflow: Overflow,
        progress: Progress = _no_progress,
    ) -> np.ndarray:
        """One pooled vector per text, ``(len(items), dim * len(modes))``; a
        windowed text is pooled over all its pieces put back together."""
        encs = self._encode(items)
        ids = [e.ids for e in encs]
        del encs
        seqs = self._sequences([len(x) for x in ids], max_length, overflow, keep_empty=True)
        groups = self._by_text(seqs)
        windowed = {t for t, ks in groups.items() if len(ks) > 1}

        def pool_fn(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return pool(hidden, mask, modes)

        results = self._run(
            ids, seqs, batch_size, pool_fn=pool_fn, full=windowed, progress=progress
        )
        out = np.zeros((len(items), self.dim * len(modes)), dtype=np.float32)
        p, s = len(self._prefix), len(self._suffix)
        for t, ks in groups.items():
            if t in windowed:
                states = whole(seqs, results, ks, self.dim, p, s)
                out[t] = pool(states[None], np.ones((1, len(states)), dtype=np.int64), modes)[0]
            else:
                out[t] = results[ks[0]]
        return out

    def _token_states(
        self, items: list[str], *, batch_size: int, progress: Progress
    ) -> list[np.ndarray]:
        """Each text's word-piece states, special tokens included."""
        max_length, _, _, overflow = self._options(None, batch_size, None, None)
        ids = [e.ids for e in self._encode(items)]
        seqs = self._sequences([len(x) for x in ids], max_length, overflow, keep_empty=True)
        results = self._run(ids, seqs, batch_size, pool_fn=None, progress=progress)
        p, s = len(self._prefix), len(self._suffix)
        out: list[np.ndarray] = []
        groups = self._by_text(seqs)
        for t in range(len(items)):
            ks = groups[t]
            out.append(results[ks[0]] if len(ks) == 1 else whole(seqs, results, ks, self.dim, p, s))
        return out

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
        if output_value == "token_embeddings":
            return self._token_states(texts, batch_size=batch_size, progress=progress)
        max_length, _, _, overflow = self._options(None, batch_size, None, None)
        modes = self.modules.modes if self.modules is not None else ("mean",)
        pooled = self._pooled(
            texts,
            modes=modes,
            batch_size=batch_size,
            max_length=max_length,
            overflow=overflow,
            progress=progress,
        )
        return self.modules.head(pooled) if self.modules is not None else pooled

    # ------------------------------------------------------------------ public
    def embed(
        self,
        texts: Sequence[str],
        *,
        pooling: TokenPooling = "first",
        batch_size: int | None = None,
        max_length: int | None = None,
        normalize: bool | None = None,
        overflow: Overflow | None = None,
    ) -> list[TokenEmbeddings]:
        """Word-level token embeddings, one :class:`TokenEmbeddings` per text.

        A word's vector is its first word piece (Spark NLP's rule), or the
        mean of its pieces with ``pooling="mean"``."""
        if pooling not in ("first", "mean"):
            raise OptionError(f"pooling={pooling!r}: use 'first' or 'mean'")
        items = check_texts(texts, "texts")
        if not items:
            return []
        max_length, batch_size, normalize, overflow = self._options(
            max_length, batch_size, normalize, overflow
        )
        encs = self._encode(items)
        ids = [e.ids for e in encs]
        seqs = self._sequences([len(x) for x in ids], max_length, overflow, keep_empty=False)
        results = self._run(ids, seqs, batch_size, pool_fn=None)
        groups = self._by_text(seqs)
        p, s = len(self._prefix), len(self._suffix)
        out: list[TokenEmbeddings] = []
        for i, (text, enc) in enumerate(zip(items, encs, strict=True)):
            ks = groups.get(i)
            if not ks:
                out.append(TokenEmbeddings([], [], np.zeros((0, self.dim), dtype=np.float32)))
                continue
            n = max(seqs[k].stop for k in ks)
            states = whole(seqs, results, ks, self.dim, p, s)
            out.append(self._words(text, enc, states[p : p + n], n, pooling, normalize))
        return out

    def _words(
        self,
        text: str,
        enc: Any,
        pieces: np.ndarray,
        n: int,
        pooling: TokenPooling,
        normalize: bool,
    ) -> TokenEmbeddings:
        word_ids = enc.word_ids[:n]
        offsets = enc.offsets[:n]
        spans: list[tuple[int, int]] = []  # [first, last] piece of each word
        prev: int | None = None
        for p, w in enumerate(word_ids):
            if w is None:
                prev = None
                continue
            if w == prev and spans:
                spans[-1] = (spans[-1][0], p)
            else:
                spans.append((p, p))
            prev = w
        tokens: list[str] = []
        offs: list[tuple[int, int]] = []
        rows: list[np.ndarray] = []
        for first, last in spans:
            begin, end = offsets[first][0], offsets[last][1]
            raw = text[begin:end]
            stripped = raw.strip()
            if not stripped:
                continue
            begin += len(raw) - len(raw.lstrip())
            end = begin + len(stripped)
            tokens.append(stripped)
            offs.append((begin, end))
            rows.append(pieces[first] if pooling == "first" else pieces[first : last + 1].mean(0))
        vectors = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        if normalize and len(rows):
            vectors = l2_normalize(vectors)
        return TokenEmbeddings(tokens, offs, vectors.astype(np.float32, copy=False))

    def embed_sentences(
        self,
        texts: Sequence[str],
        *,
        pooling: SentencePooling = "mean",
        batch_size: int | None = None,
        max_length: int | None = None,
        normalize: bool | None = None,
        overflow: Overflow | None = None,
    ) -> np.ndarray:
        """One vector per text, ``(len(texts), dim)`` float32: the mean of
        its token states (special tokens included, as sentence-transformers
        does) or the ``[CLS]`` state. Unlike :meth:`encode`, no Dense or
        Normalize module of a sentence-transformers directory applies."""
        if pooling not in ("mean", "cls"):
            raise OptionError(f"pooling={pooling!r}: use 'mean' or 'cls'")
        items = check_texts(texts, "texts")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        max_length, batch_size, normalize, overflow = self._options(
            max_length, batch_size, normalize, overflow
        )
        out = self._pooled(
            items,
            modes=(pooling,),
            batch_size=batch_size,
            max_length=max_length,
            overflow=overflow,
        )
        return l2_normalize(out) if normalize else out

    def _options(
        self,
        max_length: int | None,
        batch_size: int | None,
        normalize: bool | None,
        overflow: Overflow | None,
    ) -> tuple[int, int, bool, Overflow]:
        _ = self.tokenizer  # specials are known once the tokenizer is ready
        ml = self._max_length if max_length is None else max_length
        limit = self._model_limit(self.hf)
        if ml > limit:
            raise OptionError(f"max_length={ml} exceeds what {self.hf.root} supports ({limit})")
        bs = self.batch_size if batch_size is None else batch_size
        if bs < 1:
            raise OptionError(f"batch_size must be at least 1, not {bs}")
        ov = self.overflow if overflow is None else overflow
        if ov not in ("truncate", "window"):
            raise OptionError(f"overflow={ov!r}: use 'truncate' or 'window'")
        return ml, bs, self.normalize if normalize is None else normalize, ov
