"""What an unpacked Spark NLP transformer-embeddings model folder holds, for every family of
:mod:`modelhub.loaders.sparknlp.families`: the Spark ML metadata, the family row, the engine
file of the engine the metadata names, the params that change the output, and the tokenizer
files (``fields/vocabulary``, ``fields/merges``, the raw ``*_spp`` SentencePiece model).

Nothing here imports torch, onnxruntime or sentencepiece: this is the artifact, not the model.

Rules (research §1, the families table):

- The engine is the metadata's ``engine`` param; a zip without one predates Spark NLP 5.0 and
  is TensorFlow (``HasEngine``'s default).
- Engine and spp files are found by suffix in any case (``Mxbai_onnx``, ``UAE_openvino``,
  ``xlmroberta_spp``), never by a fixed prefix (:func:`families.engine_files`).
- A param's value is the saved ``paramMap``, then ``defaultParamMap``, then the family's
  Scala default (:class:`~modelhub.loaders.sparknlp.families.Param`).
- ONNX external data: besides the ``*_onnx`` zip, files whose names start with the engine
  file's name (``bge_onnx_data``, ``bge_onnx.onnx_data``) or end in ``.onnx_data`` are the
  graph's external data (research §1.3); the ONNX runner resolves them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import (
    ENGINE_SUFFIXES,
    Family,
    engine_files,
    family_for,
    spp_file,
)
from modelhub.loaders.sparknlp.sparkml import (
    SparkMLMetadata,
    find_model_root,
    read_merges,
    read_metadata,
    read_vocabulary,
)
from modelhub.safezip import SafeZip, zip_limits

#: Pooling strategies of Mxbai/UAE's ``poolingStrategy`` param (an integer index also works).
POOLING_STRATEGIES = ("cls", "cls_avg", "last", "avg", "max")

#: The largest ``maxSentenceLength`` accepted (Spark NLP's own setters stop at 512, 4096 for
#: Longformer); a larger value is a hostile or damaged param, not a model.
MAX_SENTENCE_LENGTH = 1 << 16
#: The longest Instructor ``instruction`` accepted, in characters (released ones: < 100).
MAX_INSTRUCTION = 8192

_MISSING = object()


@dataclass(frozen=True)
class SparkNlpZip:
    """An unpacked Spark NLP transformer-embeddings model folder (see the module docstring)."""

    root: Path
    metadata: SparkMLMetadata
    family: Family
    engine: str
    engine_file: Path
    side_files: tuple[Path, ...] = ()

    # ------------------------------------------------------------------ params
    def param(self, name: str, default: Any = _MISSING) -> Any:
        """``paramMap``, then ``defaultParamMap``, then the family's Scala default, then
        ``default`` (a ``KeyError`` without one)."""
        value = self.metadata.get(name)
        if value is not None:
            return value
        for p in self.family.params:
            if p.name == name:
                return p.default
        if default is _MISSING:
            raise KeyError(name)
        return default

    @property
    def annotator(self) -> str:
        return self.metadata.simple_name

    @property
    def token_features(self) -> tuple[str, ...]:
        """The ``fields/`` features the tokenizer is read from."""
        return tuple(f for f in ("vocabulary", "merges") if f"fields/{f}" in self.family.files)

    def _flag(self, name: str, value: Any) -> bool:
        # Spark writes JSON booleans; bool("false") would be True
        if not isinstance(value, bool):
            raise ArtifactFormatError(
                f"{self.metadata.path}: {name} {str(value)[:100]!r} is not true or false"
            )
        return value

    @property
    def case_sensitive(self) -> bool:
        value = self.param("caseSensitive", False)
        return False if value is None else self._flag("caseSensitive", value)

    @property
    def max_sentence_length(self) -> int | None:
        """``maxSentenceLength``; a value that is not a whole number of tokens in
        1..:data:`MAX_SENTENCE_LENGTH` is a typed error naming the metadata file."""
        value = self.param("maxSentenceLength", None)
        if value is None:
            return None
        # bool is an int to Python; a float such as 1e12 is no token count either
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArtifactFormatError(
                f"{self.metadata.path}: maxSentenceLength {str(value)[:100]!r} is not a whole "
                "number of tokens"
            )
        if not 1 <= value <= MAX_SENTENCE_LENGTH:
            raise ArtifactFormatError(
                f"{self.metadata.path}: maxSentenceLength {str(value)[:100]} is outside "
                f"1..{MAX_SENTENCE_LENGTH}"
            )
        return value

    @property
    def dimension(self) -> int | None:
        value = self.param("dimension", None)
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 20
        return int(value) if ok else None

    @property
    def pooling_strategy(self) -> str | int:
        """Mxbai/UAE ``poolingStrategy``: one of :data:`POOLING_STRATEGIES` or a token index."""
        value = self.param("poolingStrategy", "cls")
        text = str(value).strip().lower()
        if text in POOLING_STRATEGIES:
            return text
        try:
            return int(text)
        except ValueError:
            raise ArtifactFormatError(
                f"{self.metadata.path}: poolingStrategy {value!r} is not one of "
                f"{', '.join(POOLING_STRATEGIES)} or a token index"
            ) from None

    @property
    def use_cls_token(self) -> bool:
        """BGE's ``useCLSToken``. A zip saved before Spark NLP 5.5.3 lacks it, and 5.5.3+
        applies the param's default, true (``HasClsTokenProperties`` @14daf855), so it is
        CLS-pooled; Spark NLP before 5.5.3 mean-pooled every BGE zip (all-ones mask)."""
        value = self.metadata.get("useCLSToken")
        return self._flag("useCLSToken", value) if value is not None else True

    @property
    def instruction(self) -> str:
        """Instructor's ``instruction`` (put before every text); a non-string or one over
        :data:`MAX_INSTRUCTION` characters is a typed error: it would be tokenized again for
        every text embedded, although only ``maxSentenceLength`` pieces are kept."""
        value = self.param("instruction", "")
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ArtifactFormatError(
                f"{self.metadata.path}: instruction is a {type(value).__name__}, not a string"
            )
        if len(value) > MAX_INSTRUCTION:
            raise ArtifactFormatError(
                f"{self.metadata.path}: instruction of {len(value)} characters; at most "
                f"{MAX_INSTRUCTION} are accepted"
            )
        return value

    # ----------------------------------------------------------- tokenizer files
    def vocabulary(self) -> list[str] | None:
        """The word pieces in id order (``fields/vocabulary``), or ``None`` for families
        without one (SentencePiece)."""
        if "fields/vocabulary" not in self.family.files:
            return None
        return read_vocabulary(self.root)

    def merges(self) -> list[tuple[str, str]] | None:
        if "fields/merges" not in self.family.files:
            return None
        return read_merges(self.root)

    def spp(self) -> bytes | None:
        """The raw SentencePiece ModelProto bytes (``*_spp``), or ``None`` for families
        without one."""
        if "*_spp" not in self.family.files:
            return None
        path = spp_file(self.root)
        if path is None:
            raise ArtifactFormatError(
                f"{self.root}: no SentencePiece model (*_spp); Spark NLP saves one beside the "
                f"engine file of every {self.family.annotator} model"
            )
        data = path.read_bytes()
        if not data:
            raise ArtifactFormatError(f"{path}: the SentencePiece model file is empty")
        return data

    # ------------------------------------------------------------------ engine
    @contextlib.contextmanager
    def engine_archive(self) -> Iterator[SafeZip]:
        """The engine zip, checked and opened in place under the ``MODELHUB_EXTRACT_MAX_*``
        caps (nothing is extracted)."""
        with SafeZip(self.engine_file, limits=zip_limits(), label=str(self.engine_file)) as zf:
            yield zf

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.root),
            "annotator": self.annotator,
            "family": self.family.family,
            "engine": self.engine,
            "engine_file": self.engine_file.name,
            "case_sensitive": self.case_sensitive,
            "max_sentence_length": self.max_sentence_length,
        }


def check_transformer(path: Path) -> tuple[Path, SparkMLMetadata, Family] | str:
    """The model root, its metadata and its family row, or why this is not a Spark NLP
    transformer-embeddings folder. Only the params JSON is read."""
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
    row = family_for(meta.class_name)
    if row is None:
        return f"Spark ML class {meta.class_name} is not a Spark NLP embeddings annotator"
    if not row.transformer:
        return f"{row.annotator} is not a transformer-embeddings annotator ({row.kind})"
    return root, meta, row


def metadata_engine(meta: SparkMLMetadata) -> str:
    """The engine the metadata names; ``tensorflow`` when it names none (before 5.0)."""
    return str(meta.get("engine") or "tensorflow").strip().lower()


def _side_files(root: Path, engine_file: Path) -> tuple[Path, ...]:
    stem = engine_file.name.lower()
    out = []
    for p in sorted(root.iterdir()):
        name = p.name.lower()
        if p == engine_file or not (
            (name.startswith(stem) and name != stem) or name.endswith(".onnx_data")
        ):
            continue
        if p.is_symlink():  # not unpacked from the zip; it could point outside the cache
            raise ArtifactFormatError(
                f"{p}: the ONNX external-data file is a symbolic link; a model folder holds "
                "plain files (delete the cache entry and pull it again)"
            )
        if p.is_file():  # a FIFO or a folder is never opened
            out.append(p)
    return tuple(out)


def open_model(path: Path) -> SparkNlpZip:
    """Reads the metadata, finds the family row and the engine file; errors say what is
    missing and where."""
    found = check_transformer(Path(path))
    if isinstance(found, str):
        raise ArtifactFormatError(f"{path}: {found}")
    root, meta, row = found
    engine = metadata_engine(meta)
    if engine not in ENGINE_SUFFIXES:
        raise ArtifactFormatError(
            f"{meta.path}: unknown engine {engine!r} (expected one of {', '.join(ENGINE_SUFFIXES)})"
        )
    files = engine_files(root)
    engine_file = files.get(engine)
    if engine_file is None:
        present = sorted(p.name for p in root.iterdir() if p.is_file())
        raise ArtifactFormatError(
            f"{root}: no {engine} engine file (*{ENGINE_SUFFIXES[engine]}) although the "
            f"metadata says engine={engine}; files here: {', '.join(present) or 'none'}"
        )
    side = _side_files(root, engine_file) if engine == "onnx" else ()
    return SparkNlpZip(
        root=root, metadata=meta, family=row, engine=engine, engine_file=engine_file,
        side_files=side,
    )  # fmt: skip


__all__ = [
    "MAX_INSTRUCTION",
    "MAX_SENTENCE_LENGTH",
    "POOLING_STRATEGIES",
    "SparkNlpZip",
    "check_transformer",
    "metadata_engine",
    "open_model",
]
