"""What the framework adapters share: the model behind them, loaded on first use
(once, whichever thread asks first), and one call into its ``encode()``."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from modelhub.loaders.model import EmbeddingModel

log = logging.getLogger("modelhub.integrations")

#: sentence-transformers' prompt names for each side of a search, tried in this
#: order (as its ``encode_query``/``encode_document`` do).
QUERY_PROMPT_NAMES = ("query",)
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")

#: ``encode()`` keywords an adapter sets itself (from its own fields, or because
#: a framework needs float lists); ``encode_kwargs`` may not carry them.
OWN_KEYWORDS = frozenset(
    {
        "batch_size",
        "normalize_embeddings",
        "show_progress_bar",
        "convert_to_numpy",
        "convert_to_tensor",
        "output_value",
        "prompt",
        "prompt_name",
    }
)


def missing_extra(exc: ImportError, module: str) -> bool:
    """``exc`` says that ``module`` (the framework) is not installed, as opposed
    to an installed framework failing to import, whose own error must show."""
    name = exc.name or ""
    return name == module or name.startswith(module + ".")


def is_model(value: Any) -> bool:
    """A loaded model (anything with ``encode()``), not a name or a path."""
    return not isinstance(value, str | os.PathLike) and callable(getattr(value, "encode", None))


def check_source(value: Any) -> Any:
    """``model``/``model_name`` as given: a registry name, a local directory
    (``Path``, or a string starting with ``/``, ``./``, ``../``, ``~``), or a
    loaded modelhub model."""
    if isinstance(value, str | os.PathLike) and str(value).strip():
        return value
    if is_model(value):
        return value
    raise ValueError(
        f"model must be a modelhub model name (e.g. 'all_minilm_l6_v2'), a model directory, "
        f"or a model returned by modelhub.pretrained(); got {value!r}"
    )


def check_encode_kwargs(value: Mapping[str, Any]) -> dict[str, Any]:
    taken = sorted(OWN_KEYWORDS.intersection(value))
    if taken:
        raise ValueError(
            f"encode_kwargs may not set {', '.join(taken)}: the adapter sets these "
            "(use its batch_size, normalize_embeddings, show_progress_bar and prompt fields)"
        )
    return dict(value)


def load_model(source: Any, lang: str, options: Mapping[str, Any]) -> EmbeddingModel:
    """The model ``source`` names: itself when already loaded, else
    ``modelhub.pretrained(source, lang, **options)``."""
    if is_model(source):
        return source  # type: ignore[no-any-return]
    from modelhub.api import pretrained

    log.info("loading %s (%s) for an embeddings adapter", source, lang)
    model = pretrained(source, lang, **options)
    if not callable(getattr(model, "encode", None)):
        raise TypeError(
            f"{source}: the loader gave a {type(model).__name__}, which has no encode(); "
            "the embeddings adapters need a model with modelhub's encode() interface "
            "(pass loader=... to pick another loader)"
        )
    return model  # type: ignore[no-any-return]


# One lock per loaded model, shared by every adapter that wraps it.
_model_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_model_locks_guard = threading.Lock()


def _lock_for(model: Any, fallback: threading.Lock) -> threading.Lock:
    with _model_locks_guard:
        try:
            return _model_locks.setdefault(model, threading.Lock())
        except TypeError:  # neither hashable nor weakly referable: this adapter's own
            return fallback


class LazyModel:
    """The model behind one adapter: loaded by the first call that needs it,
    once even when several threads ask at the same time. Calls into a model run
    one at a time, also across adapters that share it: a Hugging Face fast
    tokenizer raises "Already borrowed" when two threads use it at once, and a
    CPU model runs no faster for a second caller (torch already uses every core).

    Copies share the loaded model; a pickled adapter leaves the weights behind
    and loads them again on first use."""

    def __init__(self) -> None:
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._model: Any = None

    def get(self, load: Callable[[], EmbeddingModel]) -> EmbeddingModel:
        model = self._model
        if model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = load()
                model = self._model
        return model  # type: ignore[no-any-return]

    def encode(
        self,
        load: Callable[[], EmbeddingModel],
        texts: Sequence[str],
        *,
        prompt: str | None,
        prompt_names: Sequence[str],
        batch_size: int,
        show_progress_bar: bool | None,
        normalize_embeddings: bool | None,
        encode_kwargs: Mapping[str, Any],
    ) -> list[list[float]]:
        """One vector (a list of floats) per text, from ``model.encode()``.
        ``prompt`` None: the model's own prompt for ``prompt_names``, if any;
        ``""``: none."""
        texts = [_check_text(t) for t in texts]
        if not texts:
            return []
        model = self.get(load)
        kwargs: dict[str, Any] = dict(encode_kwargs)
        kwargs.update(
            batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True
        )
        # None leaves the model's own default (its Normalize module, if any).
        if normalize_embeddings is not None:
            kwargs["normalize_embeddings"] = normalize_embeddings
        if prompt is None:
            prompt = model_prompt(model, prompt_names)
        if prompt:
            # What sentence-transformers does with a prompt whose tokens are
            # pooled (include_prompt, its default); modelhub's encode() takes no
            # prompt= of its own.
            texts = [prompt + t for t in texts]
        with _lock_for(model, self._call_lock):
            vectors = np.asarray(model.encode(texts, **kwargs))
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(
                f"{type(model).__name__}.encode() gave an array of shape {vectors.shape} "
                f"for {len(texts)} texts; expected ({len(texts)}, dim)"
            )
        if vectors.dtype.kind != "f":  # int8/binary precision: frameworks expect floats
            vectors = vectors.astype(np.float32)
        return vectors.tolist()  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyModel:
        return self


def model_prompt(model: Any, names: Sequence[str]) -> str | None:
    """The model's own prompt for one side of a search (sentence-transformers'
    ``prompts`` from ``config_sentence_transformers.json``), if it has one."""
    prompts = getattr(model, "prompts", None)
    if not isinstance(prompts, Mapping):
        return None
    for name in names:
        value = prompts.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"texts to embed must be strings; got {type(text).__name__}: {text!r}")
    return text
