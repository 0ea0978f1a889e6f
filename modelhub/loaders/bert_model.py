"""BERT-family token and sentence embeddings with torch + transformers.

Imported only by :meth:`modelhub.loaders.bert.BertLoader.load`: this module
may import torch, transformers and numpy at module level.

Word-level tokens come from the tokenizer's own pre-tokenizer (``word_ids``
with character offsets); a word's vector is its first word piece, as in Spark
NLP, or the mean of its pieces with ``pooling="mean"``. Texts are encoded
without special tokens, cut to ``max_length`` (or into overlapping windows),
then the special tokens are put back, so both modes share one path.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import pickle
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError
from modelhub.loaders.hf import HFDirectory, inspect_dir
from modelhub.loaders.runtime import resolve_device, resolve_dtype
from modelhub.loaders.tokens import TokenEmbeddings

log = logging.getLogger(__name__)

TokenPooling = Literal["first", "mean"]
SentencePooling = Literal["mean", "cls"]
Overflow = Literal["truncate", "window"]

# Models whose position ids start after the padding index (fairseq heritage):
# two positions fewer than max_position_embeddings are usable.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert"}
# Sequences are sorted by length, then cut into batches holding at most this
# many padded tokens (and at most batch_size texts): short texts go in big
# batches, long ones in small ones, and almost no compute is spent on padding.
_TOKENS_PER_BATCH = 4096


@dataclass(frozen=True, slots=True)
class _Seq:
    text: int  # index of the text it comes from
    start: int  # first content piece it holds
    stop: int  # one past its last content piece


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a list of str, not a single str: wrap it in a list")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"texts must be a list of str, not {type(texts).__name__}") from None
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
    return items


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _config_dim(config: dict[str, Any]) -> int | None:
    for key in ("hidden_size", "dim", "d_model"):
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def _tokenizer_lowercases(hf: HFDirectory, tokenizer: Any | None) -> bool | None:
    """Whether the artifact's tokenizer lowercases: tokenizer_config.json's
    ``do_lower_case``, else its normalizer; ``None`` when it cannot tell."""
    value = hf.tokenizer_config.get("do_lower_case")
    if isinstance(value, bool):
        return value
    if tokenizer is None:
        return None
    text = repr(tokenizer.normalizer)
    return "lowercase=True" in text or "Lowercase" in text


def _load_tokenizer(hf: HFDirectory) -> Any:
    from tokenizers import Tokenizer

    if hf.tokenizer_json is not None:
        try:
            tok = Tokenizer.from_file(str(hf.tokenizer_json))
        except Exception as exc:
            raise ArtifactFormatError(
                f"{hf.tokenizer_json}: not a tokenizers file ({exc})"
            ) from exc
    else:
        # Only a vocabulary: let transformers build the fast tokenizer from it.
        from transformers import AutoTokenizer

        slow_or_fast = AutoTokenizer.from_pretrained(
            str(hf.root), trust_remote_code=False, local_files_only=True
        )
        if not getattr(slow_or_fast, "is_fast", False):
            raise ArtifactFormatError(
                f"{hf.root}: no fast tokenizer could be built (word offsets need one)"
            )
        tok = slow_or_fast.backend_tokenizer
    tok.no_truncation()
    tok.no_padding()
    return tok


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Library code does not draw progress bars on the user's terminal."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _load_torch_model(hf: HFDirectory, device: torch.device) -> torch.nn.Module:
    from transformers import AutoModel

    with _quiet_transformers():
        try:
            model = AutoModel.from_pretrained(
                str(hf.root),
                trust_remote_code=False,  # never run code shipped with a model
                local_files_only=True,
                use_safetensors=hf.safetensors,
                weights_only=True,  # a pickle may only hold tensors
                dtype=torch.float32,
            )
        except (OSError, ValueError, RuntimeError, KeyError, pickle.UnpicklingError) as exc:
            raise ArtifactFormatError(
                f"{hf.root}: transformers could not load {hf.weights.name} ({exc})"
            ) from exc
    model.eval()
    if device.type != "cpu":
        model.to(device)
    return model


class BertEmbeddingsModel:
    """A loaded BERT-family encoder. Build it with :meth:`from_directory` (or
    ``modelhub.pretrained``)."""

    def __init__(
        self,
        *,
        hf: HFDirectory,
        model: torch.nn.Module,
        tokenizer: Any,
        record: ModelCard | None,
        device: torch.device,
        dtype: torch.dtype,
        max_length: int,
        batch_size: int = 32,
        normalize: bool = False,
        overflow: Overflow = "truncate",
        stride: int | None = None,
    ) -> None:
        self.hf = hf
        self.model = model
        self.record = record
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.normalize = normalize
        self.overflow = overflow
        self.stride = stride
        self.conflicts: list[str] = []
        self._max_length = max_length
        self._given_tokenizer = tokenizer
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._uses_token_types = (
            "token_type_ids" in inspect.signature(model.forward).parameters
            and int(hf.config.get("type_vocab_size", 0) or 0) > 0
        )
        self._check_conflicts(lowercase=_tokenizer_lowercases(hf, None))

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_directory(
        cls,
        path: str | Path,
        record: ModelCard | None = None,
        *,
        device: Any = "auto",
        dtype: Any = "auto",
        batch_size: int = 32,
        max_length: int | None = None,
        normalize: bool = False,
        overflow: Overflow = "truncate",
        stride: int | None = None,
        num_threads: int | None = None,
    ) -> BertEmbeddingsModel:
        """Load the transformers directory at ``path``. ``max_length`` (word
        pieces, special tokens included) defaults to the record's, then
        sentence-transformers' ``max_seq_length``, then the model's limit."""
        found = inspect_dir(Path(path))
        if isinstance(found, str):
            raise ArtifactFormatError(f"{path}: {found}")
        hf = found
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if overflow not in ("truncate", "window"):
            raise ValueError(f"overflow={overflow!r}: use 'truncate' or 'window'")
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        dev = resolve_device(device)
        compute = resolve_dtype(dtype, dev)
        limit = cls._model_limit(hf)
        chosen = cls._default_max_length(hf, record, limit) if max_length is None else max_length
        if chosen > limit:
            raise ValueError(f"max_length={chosen} exceeds what {hf.root} supports ({limit})")
        started = time.perf_counter()
        model = _load_torch_model(hf, dev)
        self = cls(
            hf=hf,
            model=model,
            tokenizer=None,
            record=record,
            device=dev,
            dtype=compute,
            max_length=chosen,
            batch_size=batch_size,
            normalize=normalize,
            overflow=overflow,
            stride=stride,
        )
        log.info(
            "loaded %s (%s, dim %d) on %s, compute %s, in %.2fs",
            hf.root,
            hf.model_type,
            self.dim,
            dev,
            str(compute).removeprefix("torch."),
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
                    value = self._given_tokenizer or _load_tokenizer(self.hf)
                    self._prepare_specials(value)
                    self._tokenizer = value
                    if not isinstance(self.hf.tokenizer_config.get("do_lower_case"), bool):
                        self._check_conflicts(
                            lowercase=_tokenizer_lowercases(self.hf, value), dim=False
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
        return _config_dim(self.hf.config) or int(self.model.config.hidden_size)

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def name(self) -> str:
        return self.record.name if self.record is not None else self.hf.root.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.hf.root),
            "model_type": self.hf.model_type,
            "dimension": self.dim,
            "max_length": self.max_length,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "conflicts": list(self.conflicts),
        }

    def __repr__(self) -> str:
        return (
            f"BertEmbeddingsModel({self.name!r}, dim={self.dim}, device={self.device}, "
            f"dtype={str(self.dtype).removeprefix('torch.')})"
        )

    # ---------------------------------------------------------------- encoding
    def _encode(self, texts: list[str]) -> list[Any]:
        return self.tokenizer.encode_batch(texts, add_special_tokens=False)

    def _sequences(
        self, encs: list[Any], max_length: int, overflow: Overflow, *, keep_empty: bool
    ) -> list[_Seq]:
        room = max_length - len(self._prefix) - len(self._suffix)
        if room < 1:
            raise ValueError(f"max_length={max_length} leaves no room beside the special tokens")
        seqs: list[_Seq] = []
        cut = 0
        for i, enc in enumerate(encs):
            n = len(enc.ids)
            if n == 0:
                if keep_empty:
                    seqs.append(_Seq(i, 0, 0))
            elif n <= room:
                seqs.append(_Seq(i, 0, n))
            elif overflow == "truncate":
                cut += 1
                seqs.append(_Seq(i, 0, room))
            else:
                overlap = self.stride if self.stride is not None else room // 4
                step = max(1, room - min(overlap, room - 1))
                start = 0
                while True:
                    seqs.append(_Seq(i, start, min(start + room, n)))
                    if start + room >= n:
                        break
                    start += step
        if cut:
            log.warning(
                "%d of %d texts are longer than max_length=%d word pieces and were truncated "
                "(overflow='window' embeds all of them)",
                cut,
                len(encs),
                max_length,
            )
        return seqs

    def _batches(self, seqs: list[_Seq], batch_size: int) -> Iterator[list[int]]:
        order = sorted(range(len(seqs)), key=lambda k: seqs[k].stop - seqs[k].start, reverse=True)
        extra = len(self._prefix) + len(self._suffix)
        batch: list[int] = []
        width = 0
        for k in order:
            length = seqs[k].stop - seqs[k].start + extra
            width = max(width, length)
            if batch and (len(batch) >= batch_size or width * (len(batch) + 1) > _TOKENS_PER_BATCH):
                yield batch
                batch, width = [], length
            batch.append(k)
        if batch:
            yield batch

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if self.dtype != torch.float32:
                stack.enter_context(torch.autocast(device_type=self.device.type, dtype=self.dtype))
            yield

    def _run(
        self,
        encs: list[Any],
        seqs: list[_Seq],
        batch_size: int,
        *,
        pool: SentencePooling | None,
        full: set[int] | None = None,
    ) -> list[Any]:
        """Run the model on ``seqs``; for each: its hidden states
        ``(len, dim)`` as float32 numpy (``pool is None`` or in ``full``), or
        its pooled vector ``(dim,)``."""
        out: list[Any] = [None] * len(seqs)
        prefix, suffix = self._prefix, self._suffix
        with self._compute():
            for batch in self._batches(seqs, batch_size):
                rows = [
                    prefix + encs[seqs[k].text].ids[seqs[k].start : seqs[k].stop] + suffix
                    for k in batch
                ]
                width = max(len(r) for r in rows)
                ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for j, r in enumerate(rows):
                    ids[j, : len(r)] = torch.tensor(r, dtype=torch.long)
                    mask[j, : len(r)] = 1
                inputs = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}
                if self._uses_token_types:
                    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
                hidden = self.model(**inputs).last_hidden_state.float()
                if pool is not None:
                    if pool == "cls":
                        pooled = hidden[:, 0]
                    else:
                        m = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                    pooled_np = pooled.cpu().numpy()
                need_full = pool is None or (
                    full is not None and any(seqs[k].text in full for k in batch)
                )
                hidden_np = hidden.cpu().numpy() if need_full else None
                for j, k in enumerate(batch):
                    if pool is not None and (full is None or seqs[k].text not in full):
                        out[k] = pooled_np[j]
                    else:
                        assert hidden_np is not None
                        out[k] = hidden_np[j, : len(rows[j])]
        return out

    def _pieces(
        self, seqs: list[_Seq], results: list[Any], text: int, n_kept: int
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The hidden states of text ``text``'s content pieces (``n_kept``,
        dim), each taken from the window where it has the most context; plus
        the first window's prefix and the last window's suffix states."""
        p, s = len(self._prefix), len(self._suffix)
        mine = [k for k, q in enumerate(seqs) if q.text == text]
        vecs = np.zeros((n_kept, self.dim), dtype=np.float32)
        best = np.full(n_kept, -1, dtype=np.int64)
        for k in mine:
            q = seqs[k]
            idx = np.arange(q.start, q.stop)
            score = np.minimum(idx - q.start, q.stop - 1 - idx)
            better = score > best[q.start : q.stop]
            vecs[idx[better]] = results[k][p : p + (q.stop - q.start)][better]
            best[q.start : q.stop] = np.maximum(best[q.start : q.stop], score)
        head = results[mine[0]][:p] if mine else None
        tail = results[mine[-1]][len(results[mine[-1]]) - s :] if mine and s else None
        return vecs, head, tail

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
            raise ValueError(f"pooling={pooling!r}: use 'first' or 'mean'")
        items = _check_texts(texts)
        if not items:
            return []
        max_length, batch_size, normalize, overflow = self._options(
            max_length, batch_size, normalize, overflow
        )
        encs = self._encode(items)
        seqs = self._sequences(encs, max_length, overflow, keep_empty=False)
        results = self._run(encs, seqs, batch_size, pool=None)
        kept = {q.text: 0 for q in seqs}
        for q in seqs:
            kept[q.text] = max(kept[q.text], q.stop)
        out: list[TokenEmbeddings] = []
        for i, (text, enc) in enumerate(zip(items, encs, strict=True)):
            n = kept.get(i, 0)
            if n == 0:
                out.append(TokenEmbeddings([], [], np.zeros((0, self.dim), dtype=np.float32)))
                continue
            pieces, _, _ = self._pieces(seqs, results, i, n)
            out.append(self._words(text, enc, pieces, n, pooling, normalize))
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
            vectors = _l2_normalize(vectors)
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
        does) or the ``[CLS]`` state."""
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling={pooling!r}: use 'mean' or 'cls'")
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        max_length, batch_size, normalize, overflow = self._options(
            max_length, batch_size, normalize, overflow
        )
        encs = self._encode(items)
        seqs = self._sequences(encs, max_length, overflow, keep_empty=True)
        counts: dict[int, int] = {}
        for q in seqs:
            counts[q.text] = counts.get(q.text, 0) + 1
        windowed = {t for t, c in counts.items() if c > 1}
        results = self._run(encs, seqs, batch_size, pool=pooling, full=windowed)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for k, q in enumerate(seqs):
            if q.text not in windowed:
                out[q.text] = results[k]
        for t in windowed:
            n = max(q.stop for q in seqs if q.text == t)
            pieces, head, tail = self._pieces(seqs, results, t, n)
            if pooling == "cls":
                out[t] = head[0] if head is not None and len(head) else pieces[0]
            else:
                parts = [x for x in (head, pieces, tail) if x is not None and len(x)]
                out[t] = np.concatenate(parts).mean(0)
        return _l2_normalize(out) if normalize else out

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
            raise ValueError(f"max_length={ml} exceeds what {self.hf.root} supports ({limit})")
        bs = self.batch_size if batch_size is None else batch_size
        if bs < 1:
            raise ValueError(f"batch_size must be at least 1, not {bs}")
        ov = self.overflow if overflow is None else overflow
        if ov not in ("truncate", "window"):
            raise ValueError(f"overflow={ov!r}: use 'truncate' or 'window'")
        return ml, bs, self.normalize if normalize is None else normalize, ov
