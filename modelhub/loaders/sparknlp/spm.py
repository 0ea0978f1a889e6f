"""The SentencePiece model of a Spark NLP zip: the ``*_spp`` file that XLM-RoBERTa,
CamemBERT, DeBERTa, ALBERT, XLNet and Instructor zips hold beside their engine file.

Spark NLP writes it with ``FileUtils.writeByteArrayToFile(file, spp.sppModel)``: the raw
serialized ``ModelProto`` it read from the imported model's ``sentencepiece.bpe.model`` /
``spm.model`` / ``spiece.model``, not zipped (research §1.3). The file is found by its
suffix in any case (:func:`modelhub.loaders.sparknlp.families.spp_file`). The
``sentencepiece`` package (extra ``modelhub[sentencepiece]``) is imported only here, when a
model is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import spp_file


def read_sentencepiece(root: Path) -> Any:
    """A ``sentencepiece.SentencePieceProcessor`` loaded from the folder's ``*_spp`` file.
    Errors name the folder or file and what is wrong."""
    root = Path(root)
    path = spp_file(root)
    if path is None:
        raise ArtifactFormatError(
            f"{root}: no SentencePiece model (*_spp): Spark NLP saves one beside the engine "
            "file of XLM-RoBERTa, CamemBERT, DeBERTa, ALBERT, XLNet and Instructor models"
        )
    try:
        import sentencepiece
    except ImportError as exc:
        raise ArtifactFormatError(
            f"{path}: reading a SentencePiece model needs the 'sentencepiece' package "
            "(pip install 'modelhub[sentencepiece]')"
        ) from exc
    data = path.read_bytes()
    if not data:
        raise ArtifactFormatError(f"{path}: the SentencePiece model file is empty")
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(data)
    except (RuntimeError, OSError, ValueError) as exc:
        raise ArtifactFormatError(
            f"{path}: not a serialized SentencePiece ModelProto ({exc})"
        ) from None
    if processor.GetPieceSize() <= 0:
        raise ArtifactFormatError(f"{path}: the SentencePiece model has no pieces")
    return processor


__all__ = ["read_sentencepiece"]
