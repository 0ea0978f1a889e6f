"""SentencePiece as Spark NLP runs it: XLM-RoBERTa, CamemBERT, DeBERTa, ALBERT, XLNet and
Instructor zips (the raw ``*_spp`` model, loaded with the ``sentencepiece`` library as Spark
NLP loads it through JNI).

Settled from Spark NLP's sources (``JohnSnowLabs/spark-nlp``, ``src/main/scala/com/
johnsnowlabs/``, read through the public code index; ``@commit`` where it showed one):

* ``ml/tensorflow/sentencepiece/SentencepieceEncoder.scala`` (newest version, idx
  5817394118, with ``pieceIdOffset``): ``encode(token)`` lowercases the token if not
  case-sensitive, encodes it alone, adds ``pieceIdOffset`` to every id and drops the pieces
  whose id equals ``delimiterId + pieceIdOffset``; the first kept piece is the word start
  (begin = token begin), later ones begin at the token's end. ``encodeSentence`` cuts the
  text to ``maxLength`` *characters* first, then encodes it whole with the same filter.
  (Older versions, @0c0fe822 and @3894b00d, had ``pieceIdFromZero`` and compared the
  un-offset delimiter id; not reproduced.)
* ``ml/ai/XlmRoberta.scala`` @50bd6326: ``<s>``=0, ``</s>``=2, ``<pad>``=1 fixed;
  ``delimiterId = pieceToId("▁")``, ``pieceIdOffset = 1`` -> bare ``▁`` dropped, and spm's
  ``<unk>`` (0) becomes 1, which is ``<pad>`` (Hugging Face maps it to 3). Tokens
  ``take(maxLen - 2)``, pieces ``take(maxLen)``; the sentence path uses ``encodeSentence``.
* ``ml/ai/CamemBert.scala`` @b7c963a8: ``PieceIdOffset = 4``, start/end/pad =
  ``pieceToId("<s>"/"</s>"/"<pad>") + 4`` and ``delimiterId = pieceToId("▁") + 4`` handed
  to an encoder that adds the offset again: the bare ``▁`` is **kept** and the piece whose
  spm id is ``pieceToId("▁") + 4`` is dropped instead. A model without ``<pad>`` (fairseq's
  has none) gets pad = unk (0) + 4 = 4; unknown pieces get 0 + 4 = 4 as well (HF: 3).
* ``ml/ai/DeBerta.scala`` @b7c963a8: ``[CLS]``/``[SEP]``/``[PAD]`` by ``pieceToId``,
  offset 0. ``ml/ai/Albert.scala`` @b7c963a8: ``[CLS]``/``[SEP]`` and pad =
  ``pieceToId("[pad]")`` (lower case: ALBERT's spm has ``<pad>``, so this is the unk id, 1).
* ``ml/ai/Xlnet.scala`` @56a29f29 (idx 5722664035, the newer of the two stored versions,
  ``families`` S7): ``<cls>`` **first**, ``<sep>`` last, pad
  ``<pad>`` (``prepareBatchInputsWithPadding(start = <cls>, end = <sep>)``); Hugging Face
  puts ``<sep> <cls>`` at the end.
* ``ml/ai/Instructor.scala`` @1a112cd1: ``encodeAsIds(instruction + text).take(maxLen - 1)
  ++ [1]`` (EOS 1 fixed, pad 0), no lowercasing, no ``▁`` filter; the instruction's piece
  count (:meth:`SentencePieceTokenizer.piece_count`) is masked out of the mean.

``sentencepiece.SentencePieceProcessor.PieceToId`` returns the unk id for a piece the
model lacks, as the JNI call does, which is what makes the quirks above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.tokenizers.base import SparkTokenizerBase
from modelhub.loaders.sparknlp.tokenizers.words import Encoded

if TYPE_CHECKING:
    from modelhub.loaders.sparknlp.families import Family

DELIMITER = "▁"


def load_processor(spp: bytes, source: str) -> Any:
    try:
        import sentencepiece
    except ImportError as exc:
        raise ArtifactFormatError(
            f"{source}: reading a SentencePiece model needs the 'sentencepiece' package "
            "(pip install 'modelhub[sentencepiece]')"
        ) from exc
    if not spp:
        raise ArtifactFormatError(f"{source}: the SentencePiece model is empty")
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(bytes(spp))
    except (RuntimeError, OSError, ValueError) as exc:
        raise ArtifactFormatError(
            f"{source}: not a serialized SentencePiece ModelProto ({exc})"
        ) from None
    return processor


class SentencePieceTokenizer(SparkTokenizerBase):
    """One SentencePiece family. ``offset``: added to every spm id; ``delimiter_id``: the
    id Spark NLP filters (already offset); ``style``: ``"spark"`` (per-token encoder),
    ``"instructor"`` (whole text, EOS appended, nothing filtered)."""

    kind = "sentencepiece"
    token_cut = True  # tokens take(maxLen - 2) before re-tokenizing

    def __init__(
        self,
        family: str,
        spp: bytes,
        processor: Any,
        *,
        offset: int,
        delimiter_id: int,
        prefix: tuple[int, ...],
        suffix: tuple[int, ...],
        pad_id: int,
        case_sensitive: bool,
        max_length: int,
        source: str,
    ) -> None:
        self.family = family
        self.spp = bytes(spp)
        self.sp = processor
        self.offset = offset
        self.delimiter_id = delimiter_id
        super().__init__(
            prefix=prefix,
            suffix=suffix,
            pad_id=pad_id,
            max_length=max_length,
            case_sensitive=case_sensitive,
            source=source,
        )

    def _pieces(self, text: str) -> list[tuple[str, int]]:
        ids = self.sp.encode(text)  # one encoding; the pieces are looked up by id
        pieces = self.sp.id_to_piece(ids)
        return [(p, i + self.offset) for p, i in zip(pieces, ids, strict=True)]

    def _encode_token(self, token: str, begin: int, end: int) -> list[tuple[int, tuple[int, int]]]:
        if self.family == "instructor":
            kept = [i for _, i in self._pieces(token)]
        else:
            kept = [i for _, i in self._pieces(self._fold(token)) if i != self.delimiter_id]
        # Spark NLP: the first kept piece is the word start at the token's begin; the others
        # begin at the token's end (SentencepieceEncoder.encode).
        return [(i, (begin, end) if k == 0 else (end, end)) for k, i in enumerate(kept)]

    def piece_count(self, text: str) -> int:
        """How many spm pieces ``text`` alone encodes to (Instructor's instruction length)."""
        return len(self.sp.encode(text))

    def encode_sentence(self, text: str, max_length: int) -> Encoded:
        keep = max(max_length - len(self.prefix) - len(self.suffix), 0)
        if self.family == "instructor":
            ids = [i for _, i in self._pieces(text)][:keep]
            return Encoded(ids, _running_offsets(self.sp, ids, text), [None] * len(ids))
        cut = text[:max_length]  # encodeSentence: the text cut to maxLength characters
        pieces = [(p, i) for p, i in self._pieces(self._fold(cut)) if i != self.delimiter_id]
        ids = [i for _, i in pieces][:keep]
        offsets: list[tuple[int, int]] = []
        start = 0
        for piece, _ in pieces[: len(ids)]:
            clean = piece.replace(DELIMITER, "")
            if piece.startswith(DELIMITER):
                start += 1  # the space the marker stands for
            end = min(start + len(clean), len(cut))
            offsets.append((min(start, end), end))
            start = end
        return Encoded(ids, offsets, [None] * len(ids))

    def huggingface(self) -> Any:
        from modelhub.loaders.sparknlp.tokenizers.spm_hf import hf_tokenizer

        return hf_tokenizer(self.family, self.spp, self.source)


def _running_offsets(sp: Any, ids: list[int], text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = 0
    for i in ids:
        piece = sp.id_to_piece(i)
        if piece.startswith(DELIMITER):
            start += 1
        end = min(start + len(piece.replace(DELIMITER, "")), len(text))
        out.append((min(start, end), end))
        start = end
    return out


def sentencepiece_tokenizer(
    family: Family, spp: bytes, *, case_sensitive: bool, max_length: int, source: str
) -> SentencePieceTokenizer:
    sp = load_processor(spp, source)
    name = family.family
    bare = int(sp.piece_to_id(DELIMITER))
    if name == "xlm-roberta":
        offset, delimiter = 1, bare + 1
        prefix, suffix, pad = (0,), (2,), 1
    elif name == "camembert":
        # the offset is added to the delimiter by CamemBert.scala and again by the encoder
        offset, delimiter = 4, bare + 4 + 4
        prefix = (int(sp.piece_to_id("<s>")) + 4,)
        suffix = (int(sp.piece_to_id("</s>")) + 4,)
        pad = int(sp.piece_to_id("<pad>")) + 4
    elif name == "instructor":
        offset, delimiter = 0, -1
        prefix, suffix, pad = (), (1,), 0
    else:  # deberta, albert, xlnet: ids as they are, specials looked up in the spm model
        roles = dict(family.specials)
        missing = [role for role in ("start", "end", "pad") if role not in roles]
        if missing:
            raise ArtifactFormatError(f"{source}: no {', '.join(missing)} token for {name}")
        offset, delimiter = 0, bare
        prefix = (int(sp.piece_to_id(roles["start"])),)
        suffix = (int(sp.piece_to_id(roles["end"])),)
        pad = int(sp.piece_to_id(roles["pad"]))
    return SentencePieceTokenizer(
        name,
        spp,
        sp,
        offset=offset,
        delimiter_id=delimiter,
        prefix=prefix,
        suffix=suffix,
        pad_id=pad,
        case_sensitive=case_sensitive,
        max_length=max_length,
        source=source,
    )


__all__ = ["SentencePieceTokenizer", "load_processor", "sentencepiece_tokenizer"]
