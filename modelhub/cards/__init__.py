"""Model cards: Markdown with YAML front matter, parsed into :class:`ModelCard`.

``parse_card(text, source=None)`` parses text, ``load_card(path)`` one file and
``load_cards(paths, strict=False)`` files and folders of ``*.md`` cards.
"""

from modelhub.cards.loader import MAX_CARD_BYTES, load_card, load_cards
from modelhub.cards.parser import parse_card
from modelhub.cards.record import CARD_KEYS, ModelCard, Upstream

__all__ = [
    "CARD_KEYS",
    "MAX_CARD_BYTES",
    "ModelCard",
    "Upstream",
    "load_card",
    "load_cards",
    "parse_card",
]
