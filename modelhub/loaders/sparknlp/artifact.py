"""What an unpacked Spark NLP BERT zip holds: its Spark ML metadata, its vocabulary and one
engine file (itself a zip without extension). Reading this never imports torch.

The engine zip is read in place (:class:`modelhub.safezip.SafeZip`), under the same caps
as every archive modelhub opens (``MODELHUB_EXTRACT_MAX_*``): loading a model writes
nothing, and a bomb inside an 86 KB download is refused before a byte is inflated."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.errors import ArtifactFormatError, IntegrityError
from modelhub.loaders.sparknlp.sparkml import (
    SparkMLMetadata,
    find_model_root,
    read_metadata,
    read_vocabulary,
)
from modelhub.safezip import SafeZip, check_members, open_zip, zip_limits

ANNOTATORS: dict[str, str] = {
    "com.johnsnowlabs.nlp.embeddings.BertEmbeddings": "bert",
    "com.johnsnowlabs.nlp.embeddings.BertSentenceEmbeddings": "bert_sentence",
}
#: engine -> file suffix after the ``bert`` / ``bert_sentence`` stem.
ENGINE_FILES: dict[str, str] = {
    "tensorflow": "_tensorflow",
    "onnx": "_onnx",
    "openvino": "_openvino",
}
SUPPORTED_ENGINES = ("onnx", "tensorflow")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparkNlpBert:
    """An unpacked Spark NLP ``BertEmbeddings``/``BertSentenceEmbeddings`` model folder."""

    root: Path
    metadata: SparkMLMetadata
    engine: str
    engine_file: Path

    @property
    def sentence(self) -> bool:
        return self.metadata.class_name.endswith("BertSentenceEmbeddings")

    @property
    def case_sensitive(self) -> bool:
        value = self.metadata.get("caseSensitive")
        # Absent: Spark NLP's BERT default has always been case-insensitive.
        return bool(value) if value is not None else False

    @property
    def max_sentence_length(self) -> int | None:
        value = self.metadata.get("maxSentenceLength")
        return int(value) if isinstance(value, int) and value > 0 else None

    @property
    def dimension(self) -> int | None:
        value = self.metadata.get("dimension")
        return int(value) if isinstance(value, int) and value > 0 else None

    def vocabulary(self) -> list[str]:
        return read_vocabulary(self.root)

    # what modelhub.loaders.sparknlp.prepared reads (a BERT zip: a WordPiece vocabulary,
    # no merges, no external-data files beside its engine)
    @property
    def annotator(self) -> str:
        return self.metadata.simple_name

    @property
    def token_features(self) -> tuple[str, ...]:
        return ("vocabulary",)

    @property
    def side_files(self) -> tuple[Path, ...]:
        return ()

    def merges(self) -> None:
        return None

    def params(self) -> dict[str, Any]:
        return dict(self.metadata.params)

    @contextlib.contextmanager
    def engine_archive(self) -> Iterator[SafeZip]:
        """The engine zip, checked and opened for reading in place (nothing is extracted);
        UnsafeArchiveError past the ``MODELHUB_EXTRACT_MAX_*`` caps."""
        with SafeZip(self.engine_file, limits=zip_limits(), label=str(self.engine_file)) as zf:
            yield zf


def check_params(art: SparkNlpBert, hidden_size: int, name: str | None = None) -> None:
    """Warns where the metadata leaves a parameter to an assumption or contradicts the
    engine's weights (the weights win). ``name`` is the zip's file name, where known."""
    where = f"{name} ({art.root})" if name else str(art.root)
    if art.metadata.get("caseSensitive") is None:
        log.warning(
            "%s: metadata/part-00000 sets caseSensitive in neither paramMap nor "
            "defaultParamMap; assuming caseSensitive=false (Spark NLP's BERT default)",
            where,
        )
    if art.dimension is not None and art.dimension != hidden_size:
        log.warning(
            "%s: metadata/part-00000 says dimension %d, the %s engine's weights have hidden "
            "size %d; using %d (the artifact's weights win)",
            where,
            art.dimension,
            art.engine,
            hidden_size,
            hidden_size,
        )


def check_annotator(path: Path) -> tuple[Path, SparkMLMetadata] | str:
    """The model root and its metadata, or why this is not a Spark NLP BERT folder."""
    path = Path(path)
    if not path.is_dir():
        return f"{path} is not a directory"
    root = find_model_root(path)
    if root is None:
        return "no metadata/part-00000 (not a Spark ML model folder)"
    try:
        meta = read_metadata(root)
    except ArtifactFormatError as exc:
        return str(exc)
    if meta.class_name not in ANNOTATORS:
        return f"Spark ML class {meta.class_name} is not one of {', '.join(sorted(ANNOTATORS))}"
    return root, meta


def open_artifact(path: Path) -> SparkNlpBert:
    """Reads the metadata and locates the engine file; errors say what is missing."""
    found = check_annotator(path)
    if isinstance(found, str):
        raise ArtifactFormatError(f"{path}: {found}")
    root, meta = found
    stem = ANNOTATORS[meta.class_name]
    engine = str(meta.get("engine") or "tensorflow").lower()
    if engine not in ENGINE_FILES:
        raise ArtifactFormatError(
            f"{meta.path}: unknown engine {engine!r} (expected one of {', '.join(ENGINE_FILES)})"
        )
    if engine not in SUPPORTED_ENGINES:
        raise ArtifactFormatError(
            f"{root}: engine {engine!r} ({stem}{ENGINE_FILES[engine]}) is not supported yet; "
            f"modelhub runs Spark NLP BERT zips with the {' and '.join(SUPPORTED_ENGINES)} "
            "engines"
        )
    engine_file = root / f"{stem}{ENGINE_FILES[engine]}"
    if not engine_file.is_file():
        present = sorted(p.name for p in root.iterdir() if p.is_file())
        raise ArtifactFormatError(
            f"{root}: the {engine} engine file {engine_file.name} is missing "
            f"(metadata says engine={engine}; files here: {', '.join(present) or 'none'})"
        )
    return SparkNlpBert(root=root, metadata=meta, engine=engine, engine_file=engine_file)


def safe_extract(archive: Path, target: Path) -> list[Path]:
    """Extracts a zip into ``target`` under the checks and caps of every archive modelhub
    opens (:mod:`modelhub.safezip`, the ``MODELHUB_EXTRACT_MAX_*`` settings)."""
    label = str(archive)
    limits = zip_limits()
    out: list[Path] = []
    with open_zip(archive, label=label) as zf:
        for info, rel in check_members(zf, label=label, limits=limits):
            if info.is_dir() or not rel:
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, dest.open("xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (OSError, EOFError, ValueError) as exc:
                raise ArtifactFormatError(
                    f"{archive}: member {info.filename} cannot be extracted ({exc})"
                ) from None
            except Exception as exc:  # BadZipFile, zlib.error: a damaged member
                raise IntegrityError(
                    f"{archive}: member {info.filename} is corrupt ({exc})", artifact=label
                ) from None
            out.append(dest)
    return out
