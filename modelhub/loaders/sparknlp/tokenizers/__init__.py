"""Tokenizers of Spark NLP zips, rebuilt from the zip's own files (``fields/vocabulary``,
``fields/merges``, ``*_spp``) with each annotator's rules as Spark NLP applies them.

:func:`make_tokenizer` picks the kind by ``family.tokenizer`` (one module each:
:mod:`.wordpiece`, :mod:`.sentencepiece`, :mod:`.bpe`) and the family's special tokens, id
offset and lower-casing. Every tokenizer offers:

* ``encode_words(text, truncate=False)``: word-level annotators. The text's words
  (:func:`spark_tokens`, the BERT loader's ``embed()`` split) are re-tokenized one by one
  with the family's rule; ``word_ids`` index into those words. ``truncate=True`` cuts as
  Spark NLP cuts a sentence at ``max_length``; the default leaves the cut (or windows) to
  the caller. ``encode_tokens(text, spans)`` does the same for given token spans.
* ``encode_sentence(text, max_length)``: sentence-level annotators, the whole text as Spark
  NLP encodes it, already cut so that ``prefix + pieces + suffix`` fits ``max_length``.
* ``prefix`` / ``suffix`` / ``pad_id``: the ids Spark NLP puts around the pieces and pads
  batches with.
* ``huggingface()``: the upstream ``tokenizers.Tokenizer`` rebuilt from the same files,
  with the upstream special-token template, for ``semantics="huggingface"``.

The rules and the Spark NLP source each comes from are in the modules' docstrings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.tokenizers.words import Encoded, spark_tokens

if TYPE_CHECKING:
    from collections.abc import Sequence

    from modelhub.loaders.sparknlp.families import Family


class SparkTokenizer(Protocol):
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    pad_id: int
    max_length: int

    def encode_words(self, text: str, *, truncate: bool = False) -> Encoded: ...

    def encode_tokens(
        self, text: str, spans: Sequence[tuple[int, int]], *, truncate: bool = False
    ) -> Encoded: ...

    def encode_sentence(self, text: str, max_length: int) -> Encoded: ...

    def huggingface(self) -> Any: ...


def _special(family: Family, role: str) -> str | None:
    for name, token in family.specials:
        if name == role:
            return token
    return None


def make_tokenizer(
    family: Family,
    *,
    vocabulary: list[str] | None = None,
    merges: list[tuple[str, str]] | None = None,
    spp: bytes | None = None,
    case_sensitive: bool,
    max_length: int,
) -> SparkTokenizer:
    """The tokenizer of a zip of ``family`` from its files: ``vocabulary`` (id order) for
    WordPiece, ``vocabulary`` + ``merges`` (rank order, as ``sparkml.read_merges`` returns
    them) for byte-level BPE, ``spp`` (the raw ``*_spp`` bytes) for SentencePiece."""
    source = f"{family.annotator} tokenizer"
    kind = family.tokenizer
    if kind == "wordpiece":
        if vocabulary is None:
            raise ArtifactFormatError(f"{source}: WordPiece needs fields/vocabulary")
        from modelhub.loaders.sparknlp.tokenizers.wordpiece import WordPieceTokenizer

        return WordPieceTokenizer(
            vocabulary,
            start=_special(family, "start") or "[CLS]",
            end=_special(family, "end") or "[SEP]",
            case_sensitive=case_sensitive,
            max_length=max_length,
            source=source,
            pair_template="mpnet" if family.family == "mpnet" else "bert",
        )
    if kind == "bpe":
        if vocabulary is None or merges is None:
            raise ArtifactFormatError(
                f"{source}: byte-level BPE needs fields/vocabulary and fields/merges"
            )
        from modelhub.loaders.sparknlp.tokenizers.bpe import ByteLevelBPETokenizer

        return ByteLevelBPETokenizer(
            vocabulary,
            merges,
            sentence=family.level == "sentence",
            case_sensitive=case_sensitive,
            max_length=max_length,
            source=source,
        )
    if kind == "sentencepiece":
        if spp is None:
            raise ArtifactFormatError(f"{source}: SentencePiece needs the *_spp file")
        from modelhub.loaders.sparknlp.tokenizers.sentencepiece import sentencepiece_tokenizer

        return sentencepiece_tokenizer(
            family, spp, case_sensitive=case_sensitive, max_length=max_length, source=source
        )
    raise ArtifactFormatError(f"{source}: no tokenizer for {kind!r} (tokenized {kind})")


__all__ = ["Encoded", "SparkTokenizer", "make_tokenizer", "spark_tokens"]
