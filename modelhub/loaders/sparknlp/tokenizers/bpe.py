"""Byte-level BPE as Spark NLP runs it: RoBERTa, Longformer and RoBERTa-Sentence zips
(``fields/vocabulary`` + ``fields/merges``, the merges a map keyed by a pair).

Read from Spark NLP's sources (``JohnSnowLabs/spark-nlp``, ``src/main/scala/com/
johnsnowlabs/nlp/annotators/tokenizer/bpe/``, commits the public code index stored):

* ``BpeTokenizer.scala`` @1d81cad0 (the one version in the index with the document-start
  rule): ``tokenize`` splits out the special tokens (``<mask>`` eats one space on its
  left), then ``tokenizeSubText``; ``bpe`` maps UTF-8 bytes to GPT-2's byte characters and
  merges the lowest-ranked pair while one is ranked; ``getTokenPieces`` prefixes ``Ġ`` to a
  chunk's first piece when it has none, **unless the chunk starts at document offset 0**,
  *after* the merges (so ``hello`` -> merges of ``hello`` looked up as ``Ġhel``... where
  Hugging Face merges ``Ġhello``); a missing piece gets the ``<unk>`` id. Piece begins
  advance by the byte-character length of each piece.
* ``Gpt2Tokenizer.scala`` @4e581796: the split pattern ``'s|'t|'re|'ve|'m|'ll|'d|
  ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`` (Java: ``\\s`` is ASCII
  whitespace only), no space put in front of the text because RoBERTa has a prefix string.
* ``RobertaTokenizer.scala`` @1b4e6025: ``prependString = "Ġ"``, ``alwaysAddPrefix``.
* ``BpeSpecialTokens.scala`` @914af076: ``<s>``, ``</s>``, ``<unk>``, ``<mask>``, ``<pad>``
  looked up in the vocabulary.
* Word level (research §2.2, ``RoBertaEmbeddings``): each Spark NLP token alone
  (lowercased if not case-sensitive), ``tokenize(...).head``: **the first chunk only**
  (``abc123`` -> ``abc``), so every word's first piece carries ``Ġ`` except the one at
  offset 0. Sentence level (``RoBertaSentenceEmbeddings``): every chunk of the text, so
  a chunk with no leading space (``,`` after a word) still gets ``Ġ``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.tokenizers.base import SparkTokenizerBase, need_tokenizers
from modelhub.loaders.sparknlp.tokenizers.words import Encoded

SPACE_MARK = "Ġ"
_JAVA_SPACE = " \t\n\x0b\x0c\r"  # java.util.regex \s without UNICODE_CHARACTER_CLASS
_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


@lru_cache(maxsize=1)
def byte_chars() -> tuple[str, ...]:
    """GPT-2's ``bytes_to_unicode``: the character standing for each byte."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    visible += range(ord("®"), ord("ÿ") + 1)
    table: dict[int, str] = {b: chr(b) for b in visible}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


def _kind(ch: str) -> str:
    if ch in _JAVA_SPACE:
        return "s"
    major = unicodedata.category(ch)[0]
    return "L" if major == "L" else "N" if major == "N" else "o"


def gpt2_chunks(text: str) -> list[tuple[int, int]]:
    """``[begin, end)`` of each match of the GPT-2 split pattern (Java semantics)."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            hit = next((s for s in _CONTRACTIONS if text.startswith(s, i)), None)
            if hit:
                out.append((i, i + len(hit)))
                i += len(hit)
                continue
        j = i + 1 if c == " " and i + 1 < n and _kind(text[i + 1]) != "s" else i
        kind = _kind(text[j])
        if kind != "s":
            k = j
            while k < n and _kind(text[k]) == kind:
                k += 1
            out.append((i, k))
            i = k
            continue
        k = i
        while k < n and _kind(text[k]) == "s":
            k += 1
        if k < n and k - i > 1:
            k -= 1  # \s+(?!\S): leave the last space to the word after it
        out.append((i, k))
        i = k
    return out


class ByteLevelBPETokenizer(SparkTokenizerBase):
    """A RoBERTa-style zip's tokenizer. ``sentence``: the annotator is sentence-level."""

    kind = "bpe"

    def __init__(
        self,
        vocabulary: Sequence[str],
        merges: Sequence[tuple[str, str]],
        *,
        sentence: bool,
        case_sensitive: bool,
        max_length: int,
        source: str,
    ) -> None:
        self.vocabulary = list(vocabulary)
        self.vocab = {piece: i for i, piece in enumerate(self.vocabulary)}
        self.merges = [tuple(m) for m in merges]
        self.ranks = {pair: rank for rank, pair in reversed(list(enumerate(self.merges)))}
        missing = [t for t in ("<s>", "</s>", "<pad>", "<unk>") if t not in self.vocab]
        if missing:
            raise ArtifactFormatError(
                f"{source}: the BPE vocabulary lacks {', '.join(missing)} (Spark NLP looks "
                "the special tokens up in fields/vocabulary)"
            )
        self.specials = [t for t in ("<mask>", "<s>", "</s>", "<unk>", "<pad>") if t in self.vocab]
        self.unk_id = self.vocab["<unk>"]
        self.sentence = sentence
        self._cache: dict[str, list[str]] = {}
        longest_first = sorted(self.specials, key=len, reverse=True)
        self._specials_re = re.compile("|".join(re.escape(t) for t in longest_first))
        super().__init__(
            prefix=(self.vocab["<s>"],),
            suffix=(self.vocab["</s>"],),
            pad_id=self.vocab["<pad>"],
            max_length=max_length,
            case_sensitive=case_sensitive,
            source=source,
        )

    # -- Spark NLP's BPE -------------------------------------------------------------------
    def bpe(self, chunk: str) -> list[str]:
        """The merged byte-level pieces of one chunk (``performMerges``)."""
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        chars = byte_chars()
        word = [chars[b] for b in chunk.encode("utf-8")]
        while len(word) > 1:
            pairs = list(pairwise(word))
            best = min(pairs, key=lambda p: self.ranks.get(p, 1 << 62))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        if len(self._cache) < 65536:
            self._cache[chunk] = word
        return word

    def _split_specials(self, text: str) -> list[tuple[int, int, bool]]:
        """``(begin, end, is_special)`` segments of ``text``; ``<mask>`` takes one space
        from the text before it (``lstrip``)."""
        if not self.specials:
            return [(0, len(text), False)]
        out: list[tuple[int, int, bool]] = []
        pos = 0
        for m in self._specials_re.finditer(text):
            end = m.start()
            if m.group() == "<mask>" and end > pos and text[end - 1] == " ":
                end -= 1
            if end > pos:
                out.append((pos, end, False))
            out.append((m.start(), m.end(), True))
            pos = m.end()
        if pos < len(text):
            out.append((pos, len(text), False))
        return out

    def _chunks(self, text: str) -> list[tuple[int, int, bool]]:
        """``BpeTokenizer.tokenize``: special tokens and GPT-2 chunks, with positions."""
        if not text.strip():
            return []
        out: list[tuple[int, int, bool]] = []
        for begin, end, special in self._split_specials(text):
            if special:
                out.append((begin, end, True))
            else:
                out.extend((begin + b, begin + e, False) for b, e in gpt2_chunks(text[begin:end]))
        return out

    def _pieces(
        self, text: str, begin: int, end: int, special: bool, doc_begin: int
    ) -> list[tuple[int, tuple[int, int]]]:
        chunk = text[begin:end]
        if special:
            return [(self.vocab[chunk], (doc_begin + begin, doc_begin + end))]
        out: list[tuple[int, tuple[int, int]]] = []
        # char position reached after each byte, to turn byte-character spans into text spans
        ends = [k + 1 for k, ch in enumerate(chunk) for _ in ch.encode("utf-8")]
        at = 0
        for index, piece in enumerate(self.bpe(chunk)):
            lookup = piece
            # the word-start piece gets Ġ unless the chunk starts the document
            if index == 0 and doc_begin + begin != 0 and SPACE_MARK not in piece:
                lookup = SPACE_MARK + piece
            span_begin = doc_begin + begin + (ends[at - 1] if at else 0)
            at += len(piece)
            span_end = doc_begin + begin + ends[min(at, len(ends)) - 1]
            out.append((self.vocab.get(lookup, self.unk_id), (span_begin, span_end)))
        return out

    def _encode_token(self, token: str, begin: int, end: int) -> list[tuple[int, tuple[int, int]]]:
        content = self._fold(token)
        chunks = self._chunks(content)
        if not chunks:
            return []
        b, e, special = chunks[0]  # result.head: the first chunk only
        pieces = self._pieces(content, b, e, special, begin)
        return [(i, (min(s, end), min(t, end))) for i, (s, t) in pieces]

    def encode_sentence(self, text: str, max_length: int) -> Encoded:
        """Every chunk of the whole text, cut to ``max_length - 2`` pieces."""
        content = self._fold(text)
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for b, e, special in self._chunks(content):
            for piece_id, (s, t) in self._pieces(content, b, e, special, 0):
                ids.append(piece_id)
                offsets.append((min(s, len(text)), min(t, len(text))))
        keep = max(max_length - len(self.prefix) - len(self.suffix), 0)
        return Encoded(ids[:keep], offsets[:keep], [None] * min(len(ids), keep))

    # -- Hugging Face ----------------------------------------------------------------------
    def huggingface(self) -> Any:
        """``RobertaTokenizerFast`` (``LongformerTokenizerFast``) on the same vocabulary and
        merges; Spark NLP's ``#version`` header pair and pairs of unknown pieces are left
        out, as Hugging Face does not read them as merges."""
        tk = need_tokenizers(self.source)
        from tokenizers import AddedToken, decoders, pre_tokenizers, processors
        from tokenizers.models import BPE

        merges = [
            (a, b)
            for a, b in self.merges
            if not a.startswith("#version") and a in self.vocab and b in self.vocab
        ]
        tok = tk.Tokenizer(
            BPE(
                dict(self.vocab),
                merges,
                dropout=None,
                continuing_subword_prefix="",
                end_of_word_suffix="",
                fuse_unk=False,
            )
        )
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", self.vocab["</s>"]), ("<s>", self.vocab["<s>"]), True, False
        )
        tok.add_special_tokens(
            [
                AddedToken(t, lstrip=t == "<mask>", normalized=False, special=True)
                for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
                if t in self.vocab
            ]
        )
        return tok


__all__ = ["ByteLevelBPETokenizer", "byte_chars", "gpt2_chunks"]
