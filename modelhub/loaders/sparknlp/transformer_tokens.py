"""The tokenizer of a Spark NLP transformer zip, as :class:`SparkNlpTransformerModel` needs
it: the Spark NLP tokenizers package (:mod:`modelhub.loaders.sparknlp.tokenizers`,
``make_tokenizer``) when this install has it, else a WordPiece tokenizer for the WordPiece
families only (BERT-style vocabularies: DistilBERT, E5, BGE, MPNet, MiniLM, Mxbai, UAE,
Nomic), built with ``tokenizers`` from ``fields/vocabulary`` exactly as Spark NLP's
BasicTokenizer + WordpieceEncoder cut text: NFD with accents always stripped, lower-cased
unless ``caseSensitive``, split on whitespace and punctuation, greedy longest-match pieces
with ``##``, a word over 200 characters or with an unmatched rest becomes ``[UNK]``.

Spark NLP tokens are what the BERT loader's ``embed()`` calls words: whitespace and
punctuation split the text (``BertPreTokenizer``), and :func:`spark_tokens` gives them with
their character offsets; ``Encoded.word_ids`` index that list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import Family


@dataclass(frozen=True, slots=True)
class Encoded:
    """Word pieces of one text, without start/end specials (the tokenizers package's
    record when it is installed; the same fields)."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]


def spark_tokens(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Spark NLP tokens of ``text`` with ``[begin, end)`` offsets: whitespace and
    punctuation split it, as the BERT loader's ``embed()`` does."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    return BertPreTokenizer().pre_tokenize_str(text)


def _special_id(family: Family, role: str, vocab: dict[str, int], default: int) -> int:
    for name, token in family.specials:
        if name == role and token in vocab:
            return vocab[token]
    return default


class WordPieceTokenizer:
    """Spark NLP's WordPiece path for the WordPiece families (see the module docstring)."""

    def __init__(self, family: Family, vocabulary: list[str], *, case_sensitive: bool) -> None:
        from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
        from tokenizers.models import WordPiece

        vocab = {piece: i for i, piece in enumerate(vocabulary)}
        unk = next((t for r, t in family.specials if r == "unk" and t in vocab), "[UNK]")
        if unk not in vocab:
            raise ArtifactFormatError(
                f"{family.annotator}: fields/vocabulary has no {unk} piece; Spark NLP's "
                "WordpieceEncoder needs one"
            )
        tok = Tokenizer(WordPiece(vocab, unk_token=unk, max_input_chars_per_word=200))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=True,
            strip_accents=True,  # Spark NLP's BasicTokenizer strips accents even when cased
            lowercase=not case_sensitive,
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        self._tok = tok
        self.family = family
        self.vocab = vocab
        start = _special_id(family, "start", vocab, 101)
        end = _special_id(family, "end", vocab, 102)
        self.prefix: tuple[int, ...] = (start,)
        self.suffix: tuple[int, ...] = (end,)
        self.pad_id = _special_id(family, "pad", vocab, 0)

    def _encode(self, text: str) -> Encoded:
        enc = self._tok.encode(text, add_special_tokens=False)
        return Encoded(list(enc.ids), [tuple(o) for o in enc.offsets], list(enc.word_ids))

    def encode_words(self, text: str) -> Encoded:
        return self._encode(text)

    def encode_sentence(self, text: str, max_length: int) -> Encoded:
        return self._encode(text)

    def huggingface(self) -> Any:
        from tokenizers import Tokenizer, processors

        tok = Tokenizer.from_str(self._tok.to_str())
        inv = {i: p for p, i in self.vocab.items()}
        start, end = inv[self.prefix[0]], inv[self.suffix[0]]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{start} $A {end}",
            pair=f"{start} $A {end} $B:1 {end}:1",
            special_tokens=[(start, self.prefix[0]), (end, self.suffix[0])],
        )
        return tok


def make_spark_tokenizer(
    family: Family,
    *,
    vocabulary: list[str] | None,
    merges: list[tuple[str, str]] | None,
    spp: bytes | None,
    case_sensitive: bool,
    max_length: int,
) -> Any:
    """The family's Spark NLP tokenizer (see the module docstring)."""
    try:
        from modelhub.loaders.sparknlp.tokenizers import make_tokenizer
    except ImportError:
        make_tokenizer = None
    if make_tokenizer is not None:
        return make_tokenizer(
            family,
            vocabulary=vocabulary,
            merges=merges,
            spp=spp,
            case_sensitive=case_sensitive,
            max_length=max_length,
        )
    if family.tokenizer == "wordpiece" and vocabulary is not None:
        return WordPieceTokenizer(family, vocabulary, case_sensitive=case_sensitive)
    raise ArtifactFormatError(
        f"{family.annotator}: its {family.tokenizer} tokenizer needs "
        "modelhub.loaders.sparknlp.tokenizers, which this install lacks; upgrade modelhub"
    )


__all__ = ["Encoded", "WordPieceTokenizer", "make_spark_tokenizer", "spark_tokens"]
