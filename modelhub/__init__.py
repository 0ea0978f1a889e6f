"""modelhub: a model registry and download manager for pretrained NLP models.

The public API is imported lazily so that ``import modelhub`` (and the catalog
CLI) never pulls in torch, transformers or boto3.
"""

from __future__ import annotations

import importlib

from modelhub.errors import (
    AccessDenied,
    ArtifactFormatError,
    CacheError,
    CardError,
    CatalogError,
    ConfigError,
    FetchError,
    IntegrityError,
    ModelhubError,
    ModelNotFound,
    NoLoaderError,
    NotCachedError,
    OptionError,
    UnsafeArchiveError,
)

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from modelhub.cards import ModelCard, load_card, load_cards, parse_card
    from modelhub.loaders.model import EmbeddingModel

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access.
_LAZY: dict[str, str] = {
    "parse_card": "modelhub.cards",
    "load_card": "modelhub.cards",
    "load_cards": "modelhub.cards",
    "ModelCard": "modelhub.cards",
    "resolve": "modelhub.api",  # registry resolve + the installed loaders' engines
    "pull": "modelhub.registry",
    "Artifact": "modelhub.registry",
    "pretrained": "modelhub.api",
    "EmbeddingModel": "modelhub.loaders.model",
}
_LAZY_MODULES = {"cache": "modelhub.cache", "cards": "modelhub.cards"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    else:
        raise AttributeError(f"module 'modelhub' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "AccessDenied",
    "ArtifactFormatError",
    "CacheError",
    "CardError",
    "CatalogError",
    "ConfigError",
    "EmbeddingModel",
    "FetchError",
    "IntegrityError",
    "ModelCard",
    "ModelNotFound",
    "ModelhubError",
    "NoLoaderError",
    "NotCachedError",
    "OptionError",
    "UnsafeArchiveError",
    "__version__",
    "cache",
    "load_card",
    "load_cards",
    "parse_card",
    "pretrained",
    "pull",
    "resolve",
]
