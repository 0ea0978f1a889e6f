"""A LangChain ``Embeddings`` backed by a modelhub model.

    from modelhub.integrations.langchain import ModelhubEmbeddings

    embeddings = ModelhubEmbeddings(model="all_minilm_l6_v2")
    vectors = embeddings.embed_documents(["Aspirin lowers the risk of infarction."])

Needs ``pip install "modelhub[langchain]"`` (langchain-core).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelhub.integrations._shared import (
    DOCUMENT_PROMPT_NAMES,
    QUERY_PROMPT_NAMES,
    LazyModel,
    check_encode_kwargs,
    check_source,
    load_model,
    missing_extra,
)

try:
    from langchain_core.embeddings import Embeddings
    from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
except ImportError as exc:
    if not missing_extra(exc, "langchain_core"):
        raise
    raise ImportError(
        'modelhub.integrations.langchain needs langchain-core: pip install "modelhub[langchain]"',
        name=exc.name,
    ) from exc

if TYPE_CHECKING:
    from modelhub.loaders.model import EmbeddingModel

__all__ = ["ModelhubEmbeddings"]


class ModelhubEmbeddings(BaseModel, Embeddings):
    """LangChain embeddings from ``modelhub.pretrained(model, lang, **pretrained_options)``.

    ``model`` is a registry name (``"all_minilm_l6_v2"``), a local model
    directory, or a model already returned by ``modelhub.pretrained()``. Any
    other keyword (``version``, ``device``, ``dtype``, ``offline``, ``loader``,
    loader options) goes to ``pretrained()`` through ``pretrained_options``.
    The model is loaded by the first call that needs it (or by :meth:`load`),
    once, also when several threads ask at the same time; a wrong name or
    option is therefore reported by that first call.

    Vectors are ``model.encode()``'s: with ``normalize_embeddings=None`` the
    model's own normalization (a sentence-transformers ``Normalize`` module),
    True/False to force it. ``query_prompt``/``document_prompt`` are prepended
    to queries/documents as sentence-transformers prompts; left at None, the
    model's own ``query`` and ``document`` (or ``passage``, ``corpus``) prompts
    are used when it has them; ``""`` uses none. ``aembed_documents``/
    ``aembed_query`` run the model in a worker thread, never on the event loop.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: Any = Field(description="registry name, model directory, or a loaded modelhub model")
    lang: str = Field(default="en", description="language of the model in the registry")
    batch_size: int = Field(default=32, gt=0, description="texts per forward pass")
    normalize_embeddings: bool | None = Field(
        default=None, description="None: the model's own normalization; True/False: force it"
    )
    show_progress_bar: bool | None = Field(
        default=False, description="None: encode()'s default (a terminal and many batches)"
    )
    query_prompt: str | None = Field(
        default=None, description="prepended to queries; None: the model's 'query' prompt"
    )
    document_prompt: str | None = Field(
        default=None, description="prepended to documents; None: the model's 'document' prompt"
    )
    encode_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="other encode() keywords (e.g. precision)"
    )
    pretrained_options: dict[str, Any] = Field(
        default_factory=dict, description="keywords for modelhub.pretrained()"
    )

    _lazy: LazyModel = PrivateAttr(default_factory=LazyModel)

    def __init__(self, model: Any = None, lang: str = "en", **options: Any) -> None:
        fields = type(self).model_fields
        own = {k: v for k, v in options.items() if k in fields}
        extra = {k: v for k, v in options.items() if k not in fields}
        pretrained_options = {**own.pop("pretrained_options", {}), **extra}
        if model is None:
            raise TypeError("ModelhubEmbeddings() needs model=, e.g. 'all_minilm_l6_v2'")
        super().__init__(model=model, lang=lang, pretrained_options=pretrained_options, **own)

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: Any) -> Any:
        return check_source(value)

    @field_validator("encode_kwargs")
    @classmethod
    def _check_encode_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_encode_kwargs(value)

    def load(self) -> EmbeddingModel:
        """The modelhub model, loaded now if it was not yet (to warm up early)."""
        return self._lazy.get(self._load)

    def _load(self) -> EmbeddingModel:
        return load_model(self.model, self.lang, self.pretrained_options)

    def _encode(self, texts: list[str], prompt: str | None, names: tuple[str, ...]) -> Any:
        return self._lazy.encode(
            self._load,
            texts,
            prompt=prompt,
            prompt_names=names,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            normalize_embeddings=self.normalize_embeddings,
            encode_kwargs=self.encode_kwargs,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per document, in order."""
        if isinstance(texts, str):
            raise TypeError("embed_documents() takes a list of texts; use embed_query() for one")
        return self._encode(list(texts), self.document_prompt, DOCUMENT_PROMPT_NAMES)  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query."""
        return self._encode([text], self.query_prompt, QUERY_PROMPT_NAMES)[0]  # type: ignore[no-any-return]
