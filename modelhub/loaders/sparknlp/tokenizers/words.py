"""The word split of ``model.embed()``: what a word-level annotator's "Spark NLP tokens" are
here, and the :class:`Encoded` record every tokenizer of this package returns.

Spark NLP's word-level annotators re-tokenize each token of a ``Tokenizer`` annotation
alone (research §1.6). modelhub has no JVM ``Tokenizer``; the BERT loader's ``embed()``
uses the words of Hugging Face's BERT pre-tokenization (``BertNormalizer`` with Chinese
characters isolated, then ``BertPreTokenizer``: split on whitespace, every punctuation
character a word of its own). :func:`spark_tokens` reproduces that split in plain Python, so
every Spark NLP family returns the same words at the same offsets as the BERT loader does.
A caller holding real Spark NLP tokens (``don't`` kept whole, as Spark NLP's default
``Tokenizer`` keeps it) passes them to ``encode_tokens`` instead.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Encoded:
    """Word pieces of one text, without start/end specials.

    ``offsets``: the ``[begin, end)`` character span of each piece in the text (as
    Spark NLP computes it, see each tokenizer module); ``word_ids``: the index of the token
    (into :func:`spark_tokens` of the text, or the spans given to ``encode_tokens``) that
    a piece belongs to, ``None`` for sentence-level encodings."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, count: int) -> Encoded:
        """The first ``count`` pieces."""
        count = max(count, 0)
        return Encoded(self.ids[:count], self.offsets[:count], self.word_ids[:count])


def _hf_punctuation(ch: str) -> bool:
    # The BERT pre-tokenizer's rule: the four ASCII symbol ranges, or Unicode category P*.
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _hf_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _separator(ch: str) -> bool:
    # Whitespace splits words; so do the characters BertNormalizer's clean_text deletes
    # (NUL, U+FFFD, control characters), which can only sit between words in real text.
    if ch.isspace():
        return True
    cp = ord(ch)
    return cp == 0 or cp == 0xFFFD or unicodedata.category(ch) in ("Cc", "Cf")


_KINDS: dict[str, int] = {}  # 0 word character, 1 separator, 2 a word of its own


def _kind(ch: str) -> int:
    kind = _KINDS.get(ch)
    if kind is None:
        kind = 1 if _separator(ch) else 2 if _hf_punctuation(ch) or _hf_cjk(ord(ch)) else 0
        if len(_KINDS) < 1 << 16:
            _KINDS[ch] = kind
    return kind


def spark_tokens(text: str) -> list[tuple[int, int]]:
    """``[begin, end)`` spans of the words of ``text``: runs of characters split at
    whitespace, with every punctuation character and every CJK ideograph a word of its own
    (the BERT loader's ``embed()`` words)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, ch in enumerate(text):
        kind = _kind(ch)
        if kind == 0:
            if start is None:
                start = i
            continue
        if start is not None:
            spans.append((start, i))
            start = None
        if kind == 2:
            spans.append((i, i + 1))
    if start is not None:
        spans.append((start, len(text)))
    return spans


__all__ = ["Encoded", "spark_tokens"]
