"""Model cards: Markdown with YAML front matter, parsed into :class:`ModelCard`."""

from modelhub.cards.record import CARD_KEYS, ModelCard, Upstream

__all__ = ["CARD_KEYS", "ModelCard", "Upstream"]
