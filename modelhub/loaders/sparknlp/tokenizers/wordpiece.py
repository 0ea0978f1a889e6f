"""WordPiece as Spark NLP runs it: BERT, DistilBERT, E5, BGE, MPNet, MiniLM, Mxbai, UAE and
Nomic zips (``fields/vocabulary``).

Read from Spark NLP's sources (``JohnSnowLabs/spark-nlp``, ``src/main/scala/com/
johnsnowlabs/``; commit = the one the public code index stored):

* ``nlp/annotators/tokenizer/wordpiece/BasicTokenizer.scala`` @18f3104d: ``normalize`` =
  Java ``trim`` (characters <= U+0020), NFD then delete the block
  ``\\p{InCombiningDiacriticalMarks}`` (U+0300-U+036F) **always**, even when case-sensitive
  (Hugging Face strips accents only when lowercasing), drop NUL, U+FFFD and ISO controls
  other than tab/LF/CR, then lowercase if not case-sensitive. Splitting: Java
  ``Character.isWhitespace`` (no-break spaces are not whitespace), punctuation = the four
  ASCII symbol ranges or a character whose Unicode *name* contains "PUNCTUATION" (so
  ``¿``, "INVERTED QUESTION MARK", is not punctuation, unlike Hugging Face's category
  rule), CJK ideographs of the Basic Multilingual Plane (Java ``char``s) isolated.
* ``.../wordpiece/WordpieceEncoder.scala`` idx 22264280710: greedy longest prefix with
  ``##``; a word over 200 characters, or one with an unmatched rest, is one ``[UNK]``;
  piece begin = token begin + start.
* ``nlp/embeddings/BertEmbeddings.scala`` idx 1294740743 and ``DistilBertEmbeddings``
  (same ``tokenizeWithAlignment``): per Spark NLP token, lowercase if not case-sensitive,
  ``BasicTokenizer``, keep ``result.head`` (``don't`` -> ``don``), WordPiece, pieces
  ``take(maxSentenceLength)``; then ``PrepareEmbeddings`` keeps ``maxSentenceLength - 2``
  between ``[CLS]``/``[SEP]`` (ids from the vocabulary), padding with 0.
* ``nlp/embeddings/MxbaiEmbeddings.scala`` idx 3570900209, ``NomicEmbeddings.scala`` idx
  4003342223 (``tokenize``): sentence-level annotators run ``BasicTokenizer`` over the whole
  text and keep every sub-token; MPNet uses ``<s>``/``</s>`` (research §3.5).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.tokenizers.base import SparkTokenizerBase, need_tokenizers
from modelhub.loaders.sparknlp.tokenizers.words import Encoded

UNK = "[UNK]"
MAX_CHARS = 200  # WordpieceEncoder.maxInputCharsPerWord


def _java_whitespace(ch: str) -> bool:
    if ch in " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f":
        return True
    if ch < "\x80":
        return False
    if ch in "\u00a0\u2007\u202f":  # Java excludes the no-break spaces
        return False
    return unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def _filtered(ch: str) -> bool:
    cp = ord(ch)
    if ch in "\t\n\r":
        return False
    return cp == 0 or cp == 0xFFFD or cp <= 0x1F or 0x7F <= cp <= 0x9F


def _punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    if cp < 0x80:
        return False
    # Java tests one UTF-16 char: a character outside the BMP is two surrogates, never
    # punctuation by name.
    return cp <= 0xFFFF and "PUNCTUATION" in unicodedata.name(ch, "")


def _chinese(ch: str) -> bool:
    cp = ord(ch)  # Java chars: only the BMP ranges can match
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF


def _java_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and ord(text[start]) <= 0x20:
        start += 1
    while end > start and ord(text[end - 1]) <= 0x20:
        end -= 1
    return text[start:end]


def normalize(text: str, case_sensitive: bool) -> str:
    """``BasicTokenizer.normalize``."""
    decomposed = unicodedata.normalize("NFD", _java_trim(text))
    out = "".join(c for c in decomposed if not 0x300 <= ord(c) <= 0x36F and not _filtered(c))
    return out if case_sensitive else out.lower()


_WORD, _SPACE, _SINGLE, _FILTERED = 0, 1, 2, 3
_CLASSES: dict[str, int] = {}


def _char_class(ch: str) -> int:
    """How ``BasicTokenizer.tokenize`` treats a character (cached: the loop is per char)."""
    kind = _CLASSES.get(ch)
    if kind is None:
        if _punctuation(ch) or _chinese(ch):
            kind = _SINGLE
        elif _java_whitespace(ch):
            kind = _SPACE
        elif _filtered(ch):
            kind = _FILTERED
        else:
            kind = _WORD
        if len(_CLASSES) < 1 << 16:
            _CLASSES[ch] = kind
    return kind


def basic_tokenize(text: str, case_sensitive: bool) -> list[tuple[str, int, int]]:
    """``BasicTokenizer.tokenize``: ``(normalized text, begin, end)`` per sub-token, with
    ``[begin, end)`` the span it came from in ``text``. Whitespace and filtered characters
    separate words; punctuation and CJK ideographs are words of their own."""
    out: list[tuple[str, int, int]] = []
    classes = [_char_class(c) for c in text]
    i, n = 0, len(text)
    while i < n:
        while i < n and classes[i] == _SPACE:
            i += 1
        end = i
        while end < n and classes[end] == _WORD:
            end += 1
        spans = [(i, end)] if end > i else []
        if end < n and classes[end] == _SINGLE:
            spans.append((end, end + 1))
        for start, stop in spans:
            normalized = normalize(text[start:stop], case_sensitive)
            if normalized:
                out.append((normalized, start, stop))
        i = end + 1
    return out


class WordPieceTokenizer(SparkTokenizerBase):
    """A WordPiece zip's tokenizer (see the module docstring for Spark NLP's rules)."""

    kind = "wordpiece"

    def __init__(
        self,
        vocabulary: Sequence[str],
        *,
        start: str,
        end: str,
        case_sensitive: bool,
        max_length: int,
        source: str,
        pair_template: str = "bert",
    ) -> None:
        self.vocabulary = list(vocabulary)
        self.vocab = {piece: i for i, piece in enumerate(self.vocabulary)}
        missing = [t for t in (start, end, UNK) if t not in self.vocab]
        if missing:
            raise ArtifactFormatError(
                f"{source}: the WordPiece vocabulary lacks {', '.join(missing)} (Spark NLP "
                "looks the start/end tokens and [UNK] up in fields/vocabulary)"
            )
        self.start_token, self.end_token = start, end
        self.unk_id = self.vocab[UNK]
        self.template = pair_template
        self._cache: dict[str, list[tuple[int, int, int]]] = {}
        super().__init__(
            prefix=(self.vocab[start],),
            suffix=(self.vocab[end],),
            pad_id=0,  # PrepareEmbeddings pads with 0 whatever the vocabulary says
            max_length=max_length,
            case_sensitive=case_sensitive,
            source=source,
        )

    def wordpiece(self, word: str, begin: int, limit: int) -> list[tuple[int, tuple[int, int]]]:
        """``WordpieceEncoder.encode`` of one normalized word whose text starts at ``begin``;
        spans are clipped to ``limit`` (normalization may change the length)."""
        pieces = self._cache.get(word)
        if pieces is None:
            pieces = self._greedy(word)
            if len(self._cache) < 65536:
                self._cache[word] = pieces
        if pieces and pieces[0][1] < 0:  # the whole word is one [UNK]
            return [(self.unk_id, (begin, limit))]
        return [(i, (min(begin + s, limit), min(begin + e, limit))) for i, s, e in pieces]

    def _greedy(self, word: str) -> list[tuple[int, int, int]]:
        """``(id, start, end)`` per piece; ``[(unk, -1, -1)]`` when the word is unknown."""
        if not word:
            return []
        if len(word) > MAX_CHARS:
            return [(self.unk_id, -1, -1)]
        out: list[tuple[int, int, int]] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while end > start:
                piece = ("##" if start else "") + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [(self.unk_id, -1, -1)]
            out.append((found, start, end))
            start = end
        return out

    def _encode_token(self, token: str, begin: int, end: int) -> list[tuple[int, tuple[int, int]]]:
        subs = basic_tokenize(self._fold(token), self.case_sensitive)
        if not subs:
            return []
        head, sub_begin, _ = subs[0]  # result.head: the first sub-token only
        return self.wordpiece(head, begin + sub_begin, end)

    def encode_sentence(self, text: str, max_length: int) -> Encoded:
        """The whole text through ``BasicTokenizer`` (every sub-token) and WordPiece, cut to
        ``max_length - 2`` pieces (``[CLS]``/``[SEP]`` around them)."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for word, begin, end in basic_tokenize(text, self.case_sensitive):
            for piece_id, span in self.wordpiece(word, begin, end):
                ids.append(piece_id)
                offsets.append(span)
        keep = max(max_length - len(self.prefix) - len(self.suffix), 0)
        return Encoded(ids[:keep], offsets[:keep], [None] * min(len(ids), keep))

    def huggingface(self) -> Any:
        """``BertTokenizerFast`` (``DistilBertTokenizerFast``, ``MPNetTokenizerFast``) on the
        same vocabulary, lowercasing as the zip's ``caseSensitive`` says."""
        tk = need_tokenizers(self.source)
        from tokenizers import AddedToken, decoders, normalizers, pre_tokenizers, processors
        from tokenizers.models import WordPiece

        tok = tk.Tokenizer(WordPiece(dict(self.vocab), unk_token=UNK))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=True,
            strip_accents=None,
            lowercase=not self.case_sensitive,
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        start, end = self.start_token, self.end_token
        if self.template == "mpnet":
            tok.post_processor = processors.RobertaProcessing(
                (end, self.vocab[end]), (start, self.vocab[start]), True, False
            )
            specials = [start, end, UNK, "<pad>", "<mask>"]
        else:
            tok.post_processor = processors.TemplateProcessing(
                single=f"{start}:0 $A:0 {end}:0",
                pair=f"{start}:0 $A:0 {end}:0 $B:1 {end}:1",
                special_tokens=[(start, self.vocab[start]), (end, self.vocab[end])],
            )
            specials = [start, end, UNK, "[PAD]", "[MASK]"]
        tok.add_special_tokens(
            [
                AddedToken(t, lstrip=t == "<mask>", normalized=False, special=True)
                for t in specials
                if t in self.vocab
            ]
        )
        return tok


__all__ = ["WordPieceTokenizer", "basic_tokenize", "normalize"]
