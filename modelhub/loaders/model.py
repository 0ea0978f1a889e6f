"""The model interface: what ``modelhub.pretrained()`` hands back, for every loader.

:class:`EmbeddingModel` is the contract (``bert`` and ``sparknlp_bert`` models
implement it, and so should a plugin's):

- ``encode(sentences, ...)`` follows sentence-transformers' ``encode``: a ``str``
  gives one 1-D vector, a list (any iterable of ``str``) a 2-D array;
  ``batch_size``, ``show_progress_bar`` (default: only on a terminal and for
  more than a few batches), ``output_value`` (``"sentence_embedding"`` or
  ``"token_embeddings"``), ``precision`` (``float32``, ``int8``, ``uint8``,
  ``binary``, ``ubinary``, as ``sentence_transformers.quantization``),
  ``convert_to_numpy``/``convert_to_tensor``, ``normalize_embeddings`` (``None``:
  the model's own modules decide, e.g. a ``Normalize`` module; ``True`` adds an
  L2 normalization; ``False`` does not undo a ``Normalize`` module, as in
  sentence-transformers) and ``truncate_dim``.
- ``encode_stream(iterable, chunk_size=...)`` tokenizes and embeds chunk by chunk
  and yields one array per chunk, so a generator of millions of texts runs in
  bounded memory.
- ``embed(texts)``: word-level tokens with character offsets and one vector each;
  ``embed_sentences(texts)``: one vector per text with the loader's documented
  pooling.

The engine seam
---------------
A model computes hidden states through one small object, an :class:`Encoder`,
chosen when the model loads (``engine="auto"|"torch"|...``, see
:mod:`modelhub.loaders.engines`)::

    hidden = encoder(input_ids, attention_mask, token_type_ids)

``input_ids`` and ``attention_mask`` are C-contiguous ``int64`` numpy arrays
``[batch, seq]``, right-padded (mask 1 for real tokens, 0 for padding);
``token_type_ids`` is the same shape, or ``None`` for all zeros. The result is
the last hidden state as a ``float32`` numpy array ``[batch, seq, hidden]``.
An encoder also names itself: ``name`` (the engine, ``"torch"``), ``device``
and ``dtype`` (strings, for ``describe()``). Everything else (tokenizing,
length-sorted batching, pooling, Dense/Normalize modules, windows) is shared.

This module imports neither torch nor transformers.
"""

from __future__ import annotations

import itertools
import logging
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from modelhub.errors import OptionError

if TYPE_CHECKING:
    from modelhub.loaders.tokens import TokenEmbeddings

log = logging.getLogger(__name__)

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "uint8", "binary", "ubinary")
OUTPUT_VALUES: tuple[str, ...] = ("sentence_embedding", "token_embeddings")

#: ``encode`` tokenizes and embeds this many texts at a time (bounded memory;
#: texts are sorted by length inside a chunk, so batches carry little padding).
ENCODE_CHUNK = 8192
#: More batches than this show a progress bar by default (on a terminal).
PROGRESS_MIN_BATCHES = 4


@runtime_checkable
class Encoder(Protocol):
    """The engine seam: ids in, last hidden state out (see the module docstring)."""

    name: str
    device: str
    dtype: str

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray: ...


Progress = Callable[[int], None]


def _no_progress(_n: int) -> None:
    pass


def check_texts(texts: Any, what: str = "sentences") -> list[str]:
    """``texts`` as a list of ``str``; a ``TypeError`` naming the first item
    that is not a string."""
    if isinstance(texts, str | bytes):
        raise TypeError(f"{what} must be an iterable of str, not a single {type(texts).__name__}")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(
            f"{what} must be a str or an iterable of str, not {type(texts).__name__}"
        ) from None
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] is {type(t).__name__}, not str")
    return items


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def quantize_embeddings(
    embeddings: np.ndarray,
    precision: str,
    *,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """sentence-transformers' ``quantize_embeddings`` for a 2-D float array:
    ``int8``/``uint8`` map each dimension's ``[min, max]`` (from ``ranges``
    ``(2, dim)``, else ``calibration_embeddings``, else the embeddings
    themselves) onto 256 buckets; ``binary``/``ubinary`` pack the signs into
    bits (``binary`` shifted by -128 into int8)."""
    check_precision(precision)
    x = np.asarray(embeddings)
    if precision == "float32":
        return x.astype(np.float32, copy=False)
    if precision in ("binary", "ubinary"):
        packed = np.packbits(x > 0, axis=-1)
        if precision == "ubinary":
            return packed
        return (packed.astype(np.int16) - 128).astype(np.int8)
    if ranges is None:
        calib = x if calibration_embeddings is None else np.asarray(calibration_embeddings)
        if calib.ndim == 1 or calib.shape[0] < 2:
            raise OptionError(
                f"precision={precision!r} needs the range of each dimension, and one embedding "
                "has none: pass ranges= or calibration_embeddings= from a representative set"
            )
        ranges = np.vstack((calib.min(axis=0), calib.max(axis=0)))
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    steps = np.where(steps == 0, 1, steps)
    buckets = np.clip(np.floor((x - starts) / steps), 0, 255)
    if precision == "uint8":
        return buckets.astype(np.uint8)
    return (buckets - 128).astype(np.int8)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise OptionError(f"precision={precision!r}: use {', '.join(repr(p) for p in PRECISIONS)}")


def _show_progress(show: bool | None, batches: int) -> bool:
    if show is not None:
        return bool(show)
    try:
        on_terminal = sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        on_terminal = False
    return on_terminal and batches > PROGRESS_MIN_BATCHES


class _Bar:
    """A tqdm bar on stderr, or nothing."""

    def __init__(self, show: bool, total: int | None, unit: str = "text") -> None:
        self._bar: Any = None
        if show:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit=unit, desc="Encoding", file=sys.stderr)

    def update(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class EmbeddingModel(ABC):
    """A loaded text embedding model (see the module docstring for the
    conventions). Subclasses implement :meth:`embed`, :meth:`embed_sentences`,
    :meth:`_encode_texts` and the ``name``/``dim``/``max_length`` properties."""

    #: Load-time default of ``normalize_embeddings=None`` for models without a
    #: ``Normalize`` module (the loaders' ``normalize=`` option).
    normalize: bool = False
    #: Where the model computes (a ``torch.device`` or a string).
    device: Any = "cpu"

    # ------------------------------------------------------------ to implement
    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def dim(self) -> int:
        """The size of a token vector (the encoder's hidden size)."""

    @property
    def sentence_dim(self) -> int:
        """The size of ``encode()``'s vectors (a Dense module may change it)."""
        return self.dim

    @property
    @abstractmethod
    def max_length(self) -> int:
        """Word pieces per sequence, special tokens included."""

    @abstractmethod
    def embed(self, texts: Sequence[str], **options: Any) -> list[TokenEmbeddings]:
        """Word-level tokens with offsets and one vector each, per text."""

    @abstractmethod
    def embed_sentences(self, texts: Sequence[str], **options: Any) -> np.ndarray:
        """One vector per text with the loader's documented pooling."""

    @abstractmethod
    def _encode_texts(
        self,
        texts: list[str],
        *,
        batch_size: int,
        output_value: str,
        progress: Progress,
    ) -> np.ndarray | list[np.ndarray]:
        """The model's own embeddings of ``texts``: float32 ``(n, sentence_dim)``
        after all its modules (Pooling, Dense, Normalize), or for
        ``output_value="token_embeddings"`` one ``(tokens, dim)`` array per text
        (word pieces, special tokens included). Calls ``progress(k)`` as ``k``
        more texts are done."""

    # ------------------------------------------------------------------ shared
    def get_sentence_embedding_dimension(self) -> int:
        """sentence-transformers' name for :attr:`sentence_dim`."""
        return self.sentence_dim

    def _check_device(self, device: Any) -> None:
        if device is None:
            return
        want, have = str(device).lower(), str(self.device).lower()
        if want == have or (want.partition(":")[0] == have and ":" not in have):
            return
        if have.startswith(want) and want in ("cuda", "cpu"):
            return
        raise OptionError(
            f"device={device!r}: this model was loaded on {have}; load it with "
            f"modelhub.pretrained(..., device={str(device)!r}) to compute there"
        )

    def encode(
        self,
        sentences: str | Iterable[str],
        *,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "sentence_embedding",
        precision: Precision = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: Any = None,
        normalize_embeddings: bool | None = None,
        truncate_dim: int | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
    ) -> Any:
        """Embed ``sentences`` as sentence-transformers' ``encode`` does (see the
        module docstring). Returns float32 ``(n, sentence_dim)`` numpy (or the
        quantized dtype), one 1-D vector for a single ``str``; a torch tensor
        with ``convert_to_tensor``; a list of per-text torch tensors with
        ``convert_to_numpy=False``."""
        if prompt_name is not None or prompt is not None:
            raise OptionError("prompts are not supported by modelhub's encode(): prepend the text")
        if output_value not in OUTPUT_VALUES:
            raise OptionError(
                f"output_value={output_value!r}: use 'sentence_embedding' or 'token_embeddings' "
                "(embed() gives word-level tokens with offsets)"
            )
        check_precision(precision)
        if output_value == "token_embeddings" and precision != "float32":
            raise OptionError("output_value='token_embeddings' supports only precision='float32'")
        if batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, not {batch_size}")
        if truncate_dim is not None and truncate_dim < 1:
            raise OptionError(f"truncate_dim must be at least 1, not {truncate_dim}")
        self._check_device(device)
        single = isinstance(sentences, str)
        texts = [sentences] if single else check_texts(sentences)  # type: ignore[list-item]
        bar = _Bar(_show_progress(show_progress_bar, -(-len(texts) // batch_size)), len(texts))
        try:
            parts = [
                self._encode_texts(
                    texts[i : i + ENCODE_CHUNK],
                    batch_size=batch_size,
                    output_value=output_value,
                    progress=bar.update,
                )
                for i in range(0, len(texts), ENCODE_CHUNK)
            ]
        finally:
            bar.close()
        if output_value == "token_embeddings":
            tokens: list[np.ndarray] = [a for part in parts for a in part]
            if truncate_dim is not None:
                tokens = [a[:, :truncate_dim] for a in tokens]
            if normalize_embeddings:
                tokens = [l2_normalize(a) for a in tokens]
            return self._convert(tokens, single, convert_to_numpy, convert_to_tensor)
        if parts:
            array = np.concatenate(parts) if len(parts) > 1 else parts[0]
        else:
            array = np.zeros((0, self.sentence_dim), dtype=np.float32)
        array = self._finish(array, normalize_embeddings, truncate_dim)  # type: ignore[arg-type]
        if precision != "float32":
            array = quantize_embeddings(array, precision)
        return self._convert(array, single, convert_to_numpy, convert_to_tensor)

    def _finish(
        self, array: np.ndarray, normalize_embeddings: bool | None, truncate_dim: int | None
    ) -> np.ndarray:
        if truncate_dim is not None:
            array = array[:, :truncate_dim]
        wanted = self.normalize if normalize_embeddings is None else normalize_embeddings
        return l2_normalize(array) if wanted else array

    def _convert(self, value: Any, single: bool, to_numpy: bool, to_tensor: bool) -> Any:
        if to_tensor:
            import torch

            if isinstance(value, list):  # token embeddings: ragged
                value = [torch.from_numpy(np.ascontiguousarray(a)) for a in value]
                return value[0] if single else value
            tensor = torch.from_numpy(np.ascontiguousarray(value)).to(str(self.device))
            return tensor[0] if single else tensor
        if not to_numpy:
            import torch

            rows = [torch.from_numpy(np.ascontiguousarray(a)) for a in value]
            return rows[0] if single else rows
        return value[0] if single else value

    def encode_stream(
        self,
        sentences: Iterable[str],
        *,
        chunk_size: int = 4096,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        normalize_embeddings: bool | None = None,
        precision: Precision = "float32",
        truncate_dim: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield one ``(k, sentence_dim)`` array per ``chunk_size`` texts of
        ``sentences`` (any iterable, read lazily: a generator of millions of
        texts runs in bounded memory), in order. ``precision`` may be
        ``float32``, ``binary`` or ``ubinary`` (int8/uint8 need ranges over all
        embeddings: quantize the float32 chunks with :func:`quantize_embeddings`
        and fixed ``ranges``)."""
        if isinstance(sentences, str | bytes):
            raise TypeError("encode_stream needs an iterable of str, not a single str")
        if chunk_size < 1:
            raise OptionError(f"chunk_size must be at least 1, not {chunk_size}")
        if batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, not {batch_size}")
        check_precision(precision)
        if precision in ("int8", "uint8"):
            raise OptionError(
                f"encode_stream cannot use precision={precision!r}: its ranges depend on all "
                "embeddings; quantize the float32 chunks with "
                "modelhub.loaders.model.quantize_embeddings(chunk, precision, ranges=...)"
            )
        iterator = iter(sentences)
        shown = _show_progress(show_progress_bar, PROGRESS_MIN_BATCHES + 1)
        bar = _Bar(shown, None)
        done = 0
        try:
            while True:
                chunk = list(itertools.islice(iterator, chunk_size))
                if not chunk:
                    return
                for i, t in enumerate(chunk):
                    if not isinstance(t, str):
                        raise TypeError(f"sentences[{done + i}] is {type(t).__name__}, not str")
                array = self._encode_texts(
                    chunk,
                    batch_size=batch_size,
                    output_value="sentence_embedding",
                    progress=bar.update,
                )
                assert isinstance(array, np.ndarray)
                array = self._finish(array, normalize_embeddings, truncate_dim)
                if precision != "float32":
                    array = quantize_embeddings(array, precision)
                done += len(chunk)
                yield array
        finally:
            bar.close()


__all__ = [
    "ENCODE_CHUNK",
    "OUTPUT_VALUES",
    "PRECISIONS",
    "EmbeddingModel",
    "Encoder",
    "Precision",
    "check_texts",
    "l2_normalize",
    "quantize_embeddings",
]
