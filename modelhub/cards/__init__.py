"""Model cards: Markdown with YAML front matter, parsed into :class:`ModelCard`.

``parse_card(text, source=None)`` parses text, ``load_card(path)`` one file and
``load_cards(paths, strict=False)`` files and folders of ``*.md`` cards.

The parser (YAML, Markdown) is imported on first use: code that only needs the
record type, such as the catalog listing, stays cheap to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelhub.cards.record import CARD_KEYS, ModelCard, Upstream

if TYPE_CHECKING:
    from modelhub.cards.loader import MAX_CARD_BYTES, load_card, load_cards
    from modelhub.cards.parser import parse_card

_LAZY: dict[str, str] = {
    "MAX_CARD_BYTES": "modelhub.cards.loader",
    "load_card": "modelhub.cards.loader",
    "load_cards": "modelhub.cards.loader",
    "parse_card": "modelhub.cards.parser",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'modelhub.cards' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "CARD_KEYS",
    "MAX_CARD_BYTES",
    "ModelCard",
    "Upstream",
    "load_card",
    "load_cards",
    "parse_card",
]
