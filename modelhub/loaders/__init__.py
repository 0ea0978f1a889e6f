"""Loaders: turn a verified cache entry into a model that runs inference.

Loaders are plugins found through the entry-point group ``modelhub.loaders``
(see :mod:`modelhub.loaders.base`). Nothing here imports torch until a model
is loaded. Every model implements :class:`EmbeddingModel`
(:mod:`modelhub.loaders.model`: ``encode``, ``encode_stream``, ``embed``,
``embed_sentences``). ``BertEmbeddings`` and ``BertSentenceEmbeddings`` (Spark NLP-style
``.pretrained(name, lang)``) live in :mod:`modelhub.api`, which joins the
registry and the loaders; they are re-exported here lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelhub.loaders.base import Loader
from modelhub.loaders.discovery import (
    GROUP,
    LoaderEntry,
    accepted_engines,
    discover,
    get_loader,
    installed_loaders,
    load_path,
    select_loader,
)
from modelhub.loaders.tokens import TokenEmbeddings

_LAZY = {
    "BertEmbeddings": "modelhub.api",
    "BertSentenceEmbeddings": "modelhub.api",
    "BertEmbeddingsModel": "modelhub.loaders.bert_model",
    # numpy stays off `import modelhub.loaders` (listing loaders is cheap)
    "EmbeddingModel": "modelhub.loaders.model",
    "Encoder": "modelhub.loaders.model",
    "quantize_embeddings": "modelhub.loaders.model",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'modelhub.loaders' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "GROUP",
    "Loader",
    "LoaderEntry",
    "TokenEmbeddings",
    "accepted_engines",
    "discover",
    "get_loader",
    "installed_loaders",
    "load_path",
    "select_loader",
    *_LAZY,
]
