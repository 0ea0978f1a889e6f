"""A LlamaIndex ``BaseEmbedding`` backed by a modelhub model.

    from llama_index.core import Settings
    from modelhub.integrations.llamaindex import ModelhubEmbedding

    Settings.embed_model = ModelhubEmbedding(model_name="all_minilm_l6_v2")

Needs ``pip install "modelhub[llamaindex]"`` (llama-index-core).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from modelhub.integrations._shared import (
    DOCUMENT_PROMPT_NAMES,
    QUERY_PROMPT_NAMES,
    LazyModel,
    check_encode_kwargs,
    check_source,
    is_model,
    load_model,
    missing_extra,
)

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_validator
except ImportError as exc:
    if not missing_extra(exc, "llama_index"):
        raise
    raise ImportError(
        "modelhub.integrations.llamaindex needs llama-index-core: "
        'pip install "modelhub[llamaindex]"',
        name=exc.name,
    ) from exc

if TYPE_CHECKING:
    from modelhub.loaders.model import EmbeddingModel

__all__ = ["ModelhubEmbedding"]


class ModelhubEmbedding(BaseEmbedding):
    """LlamaIndex embeddings from ``modelhub.pretrained(model_name, lang, **pretrained_options)``.

    ``model_name`` is a registry name (``"all_minilm_l6_v2"``), a local model
    directory (a ``Path``, or a string starting with ``/``, ``./``, ``../``,
    ``~``), or a model already returned by ``modelhub.pretrained()``. Any other
    keyword that is not a field here (``version``, ``device``, ``dtype``,
    ``offline``, ``loader``, loader options) goes to ``pretrained()`` through
    ``pretrained_options``. The model is loaded by the first call that needs it
    (or by :meth:`load`), once, also when several threads ask at the same time.

    ``embed_batch_size`` (LlamaIndex's batching) is also ``encode()``'s
    ``batch_size``. ``normalize_embeddings=None`` keeps the model's own
    normalization. ``query_prompt``/``text_prompt`` are prepended to queries/
    texts as sentence-transformers prompts; left at None, the model's own
    ``query`` and ``document`` (or ``passage``, ``corpus``) prompts are used when
    it has them; ``""`` uses none. The async methods run the model in a worker
    thread, never on the event loop.
    """

    embed_batch_size: int = Field(default=32, gt=0, le=2048, description="texts per batch")
    lang: str = Field(default="en", description="language of the model in the registry")
    normalize_embeddings: bool | None = Field(
        default=None, description="None: the model's own normalization; True/False: force it"
    )
    show_progress_bar: bool | None = Field(
        default=False, description="None: encode()'s default (a terminal and many batches)"
    )
    query_prompt: str | None = Field(
        default=None, description="prepended to queries; None: the model's 'query' prompt"
    )
    text_prompt: str | None = Field(
        default=None, description="prepended to texts; None: the model's 'document' prompt"
    )
    encode_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="other encode() keywords (e.g. precision)"
    )
    pretrained_options: dict[str, Any] = Field(
        default_factory=dict, description="keywords for modelhub.pretrained()"
    )

    _source: Any = PrivateAttr(default=None)
    _lazy: LazyModel = PrivateAttr(default_factory=LazyModel)

    def __init__(self, model_name: Any = None, lang: str = "en", **options: Any) -> None:
        if model_name is None:
            raise TypeError("ModelhubEmbedding() needs model_name=, e.g. 'all_minilm_l6_v2'")
        try:
            source = check_source(model_name)
        except ValueError as exc:
            raise TypeError(str(exc)) from None
        fields = type(self).model_fields
        own = {k: v for k, v in options.items() if k in fields}
        extra = {k: v for k, v in options.items() if k not in fields}
        pretrained_options = {**own.pop("pretrained_options", {}), **extra}
        super().__init__(
            model_name=_display_name(source),
            lang=lang,
            pretrained_options=pretrained_options,
            **own,
        )
        # Kept as given: a Path stays a local directory even when its string
        # form (``model_name``) would read as a registry name.
        self._source = source

    @field_validator("encode_kwargs")
    @classmethod
    def _check_encode_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_encode_kwargs(value)

    @classmethod
    def class_name(cls) -> str:
        return "ModelhubEmbedding"

    def load(self) -> EmbeddingModel:
        """The modelhub model, loaded now if it was not yet (to warm up early)."""
        return self._lazy.get(self._load)

    def _load(self) -> EmbeddingModel:
        return load_model(self._source, self.lang, self.pretrained_options)

    def _encode(self, texts: list[str], prompt: str | None, names: tuple[str, ...]) -> Any:
        return self._lazy.encode(
            self._load,
            texts,
            prompt=prompt,
            prompt_names=names,
            batch_size=self.embed_batch_size,
            show_progress_bar=self.show_progress_bar,
            normalize_embeddings=self.normalize_embeddings,
            encode_kwargs=self.encode_kwargs,
        )

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query], self.query_prompt, QUERY_PROMPT_NAMES)[0]  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text], self.text_prompt, DOCUMENT_PROMPT_NAMES)[0]  # type: ignore[no-any-return]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts), self.text_prompt, DOCUMENT_PROMPT_NAMES)  # type: ignore[no-any-return]

    # LlamaIndex's defaults call the sync methods on the event loop; a forward
    # pass would block every other task, so these run in a worker thread.
    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def _display_name(source: Any) -> str:
    if isinstance(source, os.PathLike):
        return os.fspath(source)  # type: ignore[return-value]
    if is_model(source):
        return str(getattr(source, "name", None) or type(source).__name__)
    return str(source)
