"""What every tokenizer of this package shares: the special ids, Spark NLP's truncation of
word-level input and the ``encode_words`` -> ``encode_tokens`` path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelhub.loaders.sparknlp.tokenizers.words import Encoded, spark_tokens


class SparkTokenizerBase:
    """``prefix``/``suffix``: ids put around the pieces; ``pad_id``: the id Spark NLP pads
    batches with; ``max_length``: ``maxSentenceLength`` (pieces plus specials).
    ``token_cut``: Spark NLP keeps only the first ``max_length - 2`` tokens of a sentence
    before re-tokenizing (the SentencePiece annotators do; research §1.6)."""

    kind = ""
    token_cut = False

    def __init__(
        self,
        *,
        prefix: Sequence[int],
        suffix: Sequence[int],
        pad_id: int,
        max_length: int,
        case_sensitive: bool,
        source: str,
    ) -> None:
        self.prefix: tuple[int, ...] = tuple(int(i) for i in prefix)
        self.suffix: tuple[int, ...] = tuple(int(i) for i in suffix)
        self.pad_id = int(pad_id)
        self.max_length = int(max_length)
        self.case_sensitive = bool(case_sensitive)
        self.source = source
        # (token, starts the document) -> its pieces with spans relative to the token: a
        # token's pieces depend on nothing else (Spark NLP re-tokenizes each token alone), so
        # a text's repeated words cost one dictionary look-up instead of a Python tokenizer
        # run each (the word-level default semantics' main cost beside the engine)
        self._token_cache: dict[tuple[str, bool], list[tuple[int, tuple[int, int]]]] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.source}, prefix={self.prefix}, suffix={self.suffix}, "
            f"pad_id={self.pad_id}, max_length={self.max_length}, "
            f"case_sensitive={self.case_sensitive})"
        )

    @property
    def budget(self) -> int:
        """How many pieces fit between the specials in ``max_length``."""
        return max(self.max_length - len(self.prefix) - len(self.suffix), 0)

    def _fold(self, text: str) -> str:
        # Spark NLP lowercases with Java's String.toLowerCase before tokenizing when the
        # model is not case-sensitive; str.lower agrees outside a few locale-specific letters.
        return text if self.case_sensitive else text.lower()

    # -- word level ----------------------------------------------------------------------
    def encode_words(self, text: str, *, truncate: bool = False) -> Encoded:
        """The pieces of each word of ``text`` (:func:`spark_tokens`), each re-tokenized
        alone with the family's rule; words that yield no piece are absent. With
        ``truncate`` the result is cut as Spark NLP cuts a sentence (``max_length``);
        without it nothing is cut (the caller truncates or makes windows)."""
        return self.encode_tokens(text, spark_tokens(text), truncate=truncate)

    def encode_tokens(
        self, text: str, spans: Sequence[tuple[int, int]], *, truncate: bool = False
    ) -> Encoded:
        """As :meth:`encode_words` for given ``[begin, end)`` token spans of ``text``."""
        if truncate and self.token_cut:
            spans = list(spans)[: max(self.max_length - 2, 0)]
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        word_ids: list[int | None] = []
        for index, (begin, end) in enumerate(spans):
            token = text[begin:end]
            if not token or token == " ":
                continue  # Spark NLP skips empty and single-space tokens
            for piece_id, (s, t) in self._token_pieces(token, begin == 0):
                ids.append(piece_id)
                offsets.append((begin + s, begin + t))
                word_ids.append(index)
        out = Encoded(ids, offsets, word_ids)
        return out.head(self.budget) if truncate else out

    def _token_pieces(self, token: str, first: bool) -> list[tuple[int, tuple[int, int]]]:
        """:meth:`_encode_token` of ``token`` with spans relative to its begin (they
        shift with it; only a token at document offset 0 differs, BPE's missing ``Ġ``),
        cached up to 65,536 distinct tokens."""
        key = (token, first)
        pieces = self._token_cache.get(key)
        if pieces is None:
            at = 0 if first else 1
            pieces = [
                (i, (s - at, t - at))
                for i, (s, t) in self._encode_token(token, at, at + len(token))
            ]
            if len(self._token_cache) < 65536:
                self._token_cache[key] = pieces
        return pieces

    def _encode_token(self, token: str, begin: int, end: int) -> list[tuple[int, tuple[int, int]]]:
        raise NotImplementedError

    # -- sentence level ------------------------------------------------------------------
    def encode_sentence(self, text: str, max_length: int) -> Encoded:
        raise NotImplementedError

    def huggingface(self) -> Any:
        raise NotImplementedError


def need_tokenizers(source: str) -> Any:
    try:
        import tokenizers
    except ImportError as exc:  # pragma: no cover - tokenizers ships with transformers
        from modelhub.errors import ArtifactFormatError

        raise ArtifactFormatError(
            f"{source}: rebuilding the Hugging Face tokenizer needs the 'tokenizers' package "
            "(pip install 'modelhub[torch]')"
        ) from exc
    return tokenizers
