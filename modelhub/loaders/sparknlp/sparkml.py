"""The Spark ML model folder a Spark NLP zip unpacks to: ``metadata/part-00000`` (the
params JSON of Spark's ``DefaultParamsWriter``) and ``fields/<name>/part-NNNNN`` (features
saved with ``saveAsObjectFile``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.javaser import read_pair_keyed_pairs, read_tuple2_pairs
from modelhub.loaders.sparknlp.seqfile import iter_bytes_values

METADATA_FILE = Path("metadata") / "part-00000"
#: The largest params JSON read (Spark NLP's are a few KB).
MAX_METADATA_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class SparkMLMetadata:
    """One Spark ML stage's metadata; ``params`` merges ``defaultParamMap`` under
    ``paramMap`` (explicit values win)."""

    class_name: str
    uid: str | None
    params: dict[str, Any] = field(default_factory=dict)
    explicit: frozenset[str] = frozenset()
    spark_version: str | None = None
    path: Path | None = None

    @property
    def simple_name(self) -> str:
        return self.class_name.rsplit(".", 1)[-1]

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


def find_model_root(path: Path) -> Path | None:
    """The folder holding ``metadata/part-00000``: ``path`` itself or its only subfolder
    (some zips wrap the model folder in one more directory)."""
    path = Path(path)
    if (path / METADATA_FILE).is_file():
        return path
    if path.is_dir():
        # a linked folder is not from the zip (extraction refuses links): never entered
        subdirs = [
            p
            for p in path.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        ]
        if len(subdirs) == 1 and (subdirs[0] / METADATA_FILE).is_file():
            return subdirs[0]
    return None


def check_inside(root: Path, path: Path) -> None:
    """A typed error when ``path`` is a link or leads outside ``root`` (a linked folder on
    the way): files a model folder holds are read only from inside it."""
    try:
        inside = path.resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if path.is_symlink() or not inside:
        raise ArtifactFormatError(
            f"{path}: is a symbolic link or lies behind one; a model folder holds plain files "
            "(delete the cache entry and pull it again)"
        )


def read_metadata(root: Path) -> SparkMLMetadata:
    path = Path(root) / METADATA_FILE
    if not path.is_file():
        raise ArtifactFormatError(
            f"{root}: not a Spark ML model folder: {METADATA_FILE} is missing "
            "(expected the params JSON written by Spark's DefaultParamsWriter)"
        )
    check_inside(root, path)  # not unpacked from the zip (extraction refuses links)
    with path.open("rb") as fh:  # a regular file (is_file above): opening cannot block
        raw = fh.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise ArtifactFormatError(
            f"{path}: over {MAX_METADATA_BYTES >> 20} MiB; Spark ML params JSON is a few KB"
        )
    text = raw.decode("utf-8", errors="replace").strip()
    first = text.splitlines()[0] if text else ""
    try:
        data = json.loads(first)
    except json.JSONDecodeError as exc:
        raise ArtifactFormatError(f"{path}: not Spark ML params JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("class"), str):
        raise ArtifactFormatError(f"{path}: Spark ML metadata without a 'class' field")
    explicit = data.get("paramMap") or {}
    defaults = data.get("defaultParamMap") or {}
    if not isinstance(explicit, dict) or not isinstance(defaults, dict):
        raise ArtifactFormatError(f"{path}: paramMap/defaultParamMap must be JSON objects")
    return SparkMLMetadata(
        class_name=data["class"],
        uid=data.get("uid"),
        params={**defaults, **explicit},
        explicit=frozenset(explicit),
        spark_version=data.get("sparkVersion"),
        path=path,
    )


def part_files(folder: Path) -> list[Path]:
    """``part-NNNNN`` files of a Spark output folder in partition order (no ``_SUCCESS``,
    no ``.crc`` side files)."""
    if not folder.is_dir():
        return []
    parts = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
    for p in parts:
        if p.is_symlink():  # not unpacked from the zip; it could point outside the cache
            raise ArtifactFormatError(
                f"{p}: is a symbolic link; a model folder holds plain files (delete the "
                "cache entry and pull it again)"
            )
    return [p for p in parts if p.is_file()]  # a FIFO or a folder is never opened


def _feature_batches(root: Path, name: str) -> list[tuple[bytes, str]]:
    folder = Path(root) / "fields" / name
    parts = part_files(folder)
    for part in parts:
        check_inside(root, part)
    if not parts:
        raise ArtifactFormatError(
            f"{folder}: missing {name}: expected Spark object files fields/{name}/part-NNNNN"
        )
    return [
        (payload, f"{part} (record {index})")
        for part in parts
        for index, payload in enumerate(iter_bytes_values(part))
    ]


def read_map_feature(root: Path, name: str) -> list[tuple[str, int]]:
    """All ``(String, Integer)`` pairs of a ``MapFeature`` saved as an object file."""
    pairs: list[tuple[str, int]] = []
    for payload, where in _feature_batches(root, name):
        pairs.extend(read_tuple2_pairs(payload, where))
    return pairs


def read_merges(root: Path) -> list[tuple[str, str]]:
    """The byte-level BPE merges of ``fields/merges`` (a ``MapFeature[(String, String),
    Int]`` of pair -> rank) in rank order. Spark NLP ranks every ``merges.txt`` line that
    splits into two fields, so a Hugging Face ``#version: 0.2`` header is kept as the pair
    of rank 0, as Spark NLP keeps it (it never applies)."""
    folder = Path(root) / "fields" / "merges"
    by_rank: dict[int, tuple[str, str]] = {}
    for payload, where in _feature_batches(root, "merges"):
        for pair, rank in read_pair_keyed_pairs(payload, where):
            if rank in by_rank:
                raise ArtifactFormatError(
                    f"{folder}: merges {by_rank[rank]} and {pair} share rank {rank}"
                )
            by_rank[rank] = pair
    size = len(by_rank)
    missing = [i for i in range(size) if i not in by_rank]
    if missing:
        raise ArtifactFormatError(
            f"{folder}: merge ranks are not 0..{size - 1}: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}"
        )
    return [by_rank[i] for i in range(size)]


def read_vocabulary(root: Path) -> list[str]:
    """The word-piece vocabulary in id order, rebuilt from ``fields/vocabulary``."""
    pairs = read_map_feature(root, "vocabulary")
    folder = Path(root) / "fields" / "vocabulary"
    by_id: dict[int, str] = {}
    seen: dict[str, int] = {}
    for piece, index in pairs:
        if index in by_id:
            raise ArtifactFormatError(
                f"{folder}: word pieces {by_id[index]!r} and {piece!r} share id {index}"
            )
        if piece in seen:
            raise ArtifactFormatError(
                f"{folder}: word piece {piece!r} appears twice (ids {seen[piece]}, {index})"
            )
        by_id[index] = piece
        seen[piece] = index
    size = len(by_id)
    missing = [i for i in range(size) if i not in by_id]
    if missing:
        raise ArtifactFormatError(
            f"{folder}: vocabulary ids are not 0..{size - 1}: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}"
        )
    return [by_id[i] for i in range(size)]
