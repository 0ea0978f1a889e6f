"""The parts of a serialized SentencePiece ``ModelProto`` (a ``*_spp`` file) that rebuilding
the Hugging Face tokenizer needs, read with :mod:`..protowire` (no ``protobuf`` package).

Field numbers from sentencepiece's ``sentencepiece_model.proto``: ``ModelProto.pieces`` = 1
(``piece`` 1, ``score`` 2 float, ``type`` 3: 1 normal, 2 unknown, 3 control, 4 user
defined, 5 unused, 6 byte), ``trainer_spec`` = 2 (``model_type`` 3, ``byte_fallback`` 35,
``unk_id`` 40), ``normalizer_spec`` = 3 (``precompiled_charsmap`` 2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.protowire import fields

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True, slots=True)
class SpmModel:
    pieces: tuple[tuple[str, float, int], ...]  # (piece, score, type) in id order
    model_type: int = 1  # 1 unigram, 2 bpe
    unk_id: int = 0
    byte_fallback: bool = False
    precompiled_charsmap: bytes = b""


def _text(value: object, source: str) -> str:
    if not isinstance(value, bytes | memoryview):
        raise ArtifactFormatError(f"{source}: malformed SentencePiece model (string field)")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactFormatError(f"{source}: a SentencePiece piece is not UTF-8") from None


def read_spm_model(data: bytes, source: str) -> SpmModel:
    pieces: list[tuple[str, float, int]] = []
    model_type, unk_id, byte_fallback, charsmap = 1, 0, False, b""
    for number, wire, value in fields(data, source):
        if number == 1 and wire == 2:
            piece, score, kind = "", 0.0, NORMAL
            for n, w, v in fields(value, source):
                if n == 1 and w == 2:
                    piece = _text(v, source)
                elif n == 2 and w == 5:
                    score = struct.unpack("<f", struct.pack("<I", v))[0]
                elif n == 3 and w == 0:
                    kind = int(v)
            pieces.append((piece, score, kind))
        elif number == 2 and wire == 2:
            for n, w, v in fields(value, source):
                if n == 3 and w == 0:
                    model_type = int(v)
                elif n == 35 and w == 0:
                    byte_fallback = bool(v)
                elif n == 40 and w == 0:
                    unk_id = int(v)
        elif number == 3 and wire == 2:
            for n, w, v in fields(value, source):
                if n == 2 and w == 2:
                    charsmap = bytes(v)
    if not pieces:
        raise ArtifactFormatError(f"{source}: the SentencePiece model has no pieces")
    return SpmModel(tuple(pieces), model_type, unk_id, byte_fallback, charsmap)


__all__ = ["SpmModel", "read_spm_model"]
