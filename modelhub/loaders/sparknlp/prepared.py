"""A Spark NLP model folder's slow parts, prepared once into a derived folder
(:mod:`modelhub.derived`) so that every later load skips them.

Spark NLP keeps its engine deflated inside a zip (``*_onnx``, ``*_openvino``,
``*_tensorflow``) and its vocabulary as Java-serialized Scala tuples: reading them costs
more than running the model's session set-up (a MiniLM-size engine: about 170 ms of
inflating; a 30,522-piece vocabulary: about 240 ms of parsing, on a 2-vCPU EPYC). Spark NLP
itself unzips the engine into a temporary folder on every load. Here the first load that
has a derived folder writes ``<derived_dir>/sparknlp-<key>/``:

- ``engine/``: the engine zip's members, inflated, read by the runners through
  :class:`UnpackedEngine` (the :class:`~modelhub.safezip.SafeZip` face: same member names,
  same checks on what they hold);
- ``tokenizer.json``: the vocabulary and merges in id order, as parsed (and checked) from
  ``fields/``.

``<key>`` hashes what they are made of: this module's :data:`FORMAT`, the annotator and
engine, and the SHA-256 of the engine file and of every ``fields/vocabulary`` and
``fields/merges`` part file, memoised by file stamps in ``<derived_dir>/sparknlp-source.json``
(a changed file is hashed again, so an edited model folder is prepared again). The folder
is written atomically with a manifest of SHA-256s; a load checks sizes and mtimes, a
damaged folder is discarded and prepared again, and ``modelhub cache verify`` re-hashes a
cache entry's. It costs disk (the engine's inflated size), which ``modelhub cache
rm``/``prune`` free with the entry.

What the cache holds is trusted as modelhub wrote it, as with downloads: whoever can write
it can rewrite a prepared folder with its manifest, or point ``sparknlp-source.json`` at
another prepared folder while the stamps still match (the memo's design: an edit that keeps
a file's size, mtime and inode is not seen). What a load refuses is being hung or led out:
a FIFO, device or link in place of a manifest, memo or prepared file, a link on the way
to one, a manifest naming a path outside its folder, JSON nested too deep: all damage,
prepared again.

Without a derived folder (``derived_dir=None``), or when it cannot be written (a read-only
cache), the model is read from the zip as before: nothing here is needed to load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from modelhub.derived import (
    check_folder,
    digest_files,
    discard,
    read_json,
    write_folder,
)
from modelhub.errors import ArtifactFormatError, IntegrityError
from modelhub.safezip import SafeZip, member_name, zip_limits

if TYPE_CHECKING:
    from modelhub.loaders.sparknlp.zipmodel import SparkNlpZip

log = logging.getLogger(__name__)

FOLDER_PREFIX = "sparknlp-"
SOURCE_NAME = "sparknlp-source.json"
TOKENIZER_NAME = "tokenizer.json"
ENGINE_DIR = "engine"
#: Bumped when what a prepared folder holds, or how it is made, changes.
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Prepared:
    """A verified prepared folder: the unpacked engine and the parsed tokenizer files."""

    folder: Path
    vocabulary: list[str] | None
    merges: list[tuple[str, str]] | None

    @property
    def engine(self) -> Path:
        return self.folder / ENGINE_DIR


class UnpackedEngine:
    """An engine zip's members as :func:`prepare` inflated them, behind the
    :class:`~modelhub.safezip.SafeZip` face the runners read through: members are named
    ``<engine zip path> / member``, exactly as in the zip, so messages name the zip."""

    def __init__(self, folder: Path, engine_file: Path) -> None:
        self.path = Path(engine_file)
        self.root = PurePosixPath(self.path.as_posix())
        self.folder = Path(folder)
        self._files = {
            p.relative_to(self.folder).as_posix(): p
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }

    def __enter__(self) -> UnpackedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to close: members are read whole, one at a time."""

    def files(self) -> list[PurePosixPath]:
        return [self.root / rel for rel in self._files]

    def _path(self, member: str | PurePosixPath) -> Path:
        rel = member_name(member, self.root, self.path)
        found = self._files.get(rel)
        if found is None:
            raise FileNotFoundError(f"{self.path}: no member {rel!r}")
        return found

    def open(self, member: str | PurePosixPath) -> IO[bytes]:
        return self._path(member).open("rb")

    def read(self, member: str | PurePosixPath) -> bytes:
        return self._path(member).read_bytes()

    def read_writable(self, member: str | PurePosixPath) -> bytearray:
        """The member's bytes in a private writable buffer: arrays over it (checkpoint
        tensors) can become torch parameters without another copy."""
        path = self._path(member)
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = bytearray(size)
            if fh.readinto(data) != size:
                raise OSError(f"{path}: changed while being read")
        return data


def open_engine(engine_file: Path, unpacked: Path | None = None) -> SafeZip | UnpackedEngine:
    """The engine's members: from the prepared folder ``unpacked`` when there is one, else
    from the zip in place (checked under the ``MODELHUB_EXTRACT_MAX_*`` caps)."""
    if unpacked is not None:
        return UnpackedEngine(unpacked, engine_file)
    return SafeZip(engine_file, limits=zip_limits(), label=str(engine_file))


def source_files(art: SparkNlpZip) -> dict[str, Path]:
    """What a prepared folder is made of: the engine file and the tokenizer part files."""
    files = {f"engine/{art.engine_file.name}": art.engine_file}
    for feature in ("vocabulary", "merges"):
        if f"fields/{feature}" not in art.family.files:
            continue
        folder = art.root / "fields" / feature
        for part in sorted(folder.glob("part-*")) if folder.is_dir() else ():
            if part.is_file() and not part.is_symlink():
                files[f"fields/{feature}/{part.name}"] = part
    return files


def folder_key(art: SparkNlpZip, digest: str) -> str:
    blob = json.dumps(
        {
            "format": FORMAT,
            "annotator": art.family.annotator,
            "engine": art.engine,
            "source": digest,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def prepare(art: SparkNlpZip, derived_dir: Path) -> Prepared | None:
    """The prepared folder of ``art`` in ``derived_dir``, made now if absent or damaged;
    None when it cannot be made here (the caller reads the zip). Bad model files raise
    the same typed errors a load from the zip raises."""
    if art.side_files:
        # ONNX external data beside the engine zip: rare; the ONNX runner reads it in place.
        return None
    derived_dir = Path(derived_dir)
    try:
        digest = digest_files(source_files(art), derived_dir / SOURCE_NAME)
    except OSError as exc:
        raise ArtifactFormatError(f"{art.root}: cannot read the model files ({exc})") from exc
    folder = derived_dir / f"{FOLDER_PREFIX}{folder_key(art, digest)}"
    # Folders appear whole (renamed into place with their manifest): one there without a
    # readable manifest, or a link in its place, is damage to clear, not a reason to give up.
    if folder.exists() or folder.is_symlink():
        problems = check_folder(folder, hashes="stamp")
        if not problems:
            found = _read_tokenizer(folder)
            if found is not None:
                return Prepared(folder, *found)
            problems = [f"{TOKENIZER_NAME}: unreadable"]
        log.warning(
            "the prepared Spark NLP model %s is damaged (%s): preparing it again",
            folder,
            "; ".join(problems),
        )
        discard(folder)
    vocabulary, merges = art.vocabulary(), art.merges()

    def build(tmp: Path) -> dict[str, Any]:
        engine = tmp / ENGINE_DIR
        engine.mkdir()
        with SafeZip(art.engine_file, limits=zip_limits(), label=str(art.engine_file)) as zf:
            for member in zf.files():
                rel = member.relative_to(zf.root)
                target = engine.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    # read() checks the member's size and CRC under the extraction caps
                    data = zf.read(member)
                except IntegrityError as exc:
                    raise _Unpreparable(exc) from exc
                # "x": a name the file system folds onto another (case, Unicode form on
                # macOS) would overwrite a member: read the zip instead
                with target.open("xb") as fh:
                    fh.write(data)
        tokens = {
            "vocabulary": vocabulary,
            "merges": None if merges is None else [list(m) for m in merges],
        }
        (tmp / TOKENIZER_NAME).write_text(json.dumps(tokens, ensure_ascii=False), "utf-8")
        return {
            "kind": "sparknlp-prepared",
            "annotator": art.family.annotator,
            "engine": art.engine,
            "engine_file": art.engine_file.name,
            "source_sha256": digest,
        }

    try:
        folder = write_folder(derived_dir, folder.name, build)
    except _Unpreparable as exc:
        # A damaged member the runner may never read (a load from the zip reads only what
        # it needs): the zip decides, raising the same error when the member matters.
        log.warning("cannot prepare %s (%s): reading the zip", art.root, exc.__cause__)
        return None
    except OSError as exc:  # a read-only or full cache: load from the zip
        log.warning("cannot keep a prepared copy of %s (%s): reading the zip", art.root, exc)
        return None
    found = _read_tokenizer(folder)
    if found is None:  # written a moment ago: only a concurrent delete gets here
        return None
    return Prepared(folder, *found)


class _Unpreparable(Exception):
    """A member of the engine zip that cannot be inflated (its cause says why)."""


def _read_tokenizer(folder: Path) -> tuple[list[str] | None, list[tuple[str, str]] | None] | None:
    try:
        data = read_json(folder / TOKENIZER_NAME, limit=1 << 31)
        vocabulary = data["vocabulary"]
        pairs = data["merges"]
        merges = None if pairs is None else [(str(a), str(b)) for a, b in pairs]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if vocabulary is not None and not (
        isinstance(vocabulary, list) and all(isinstance(v, str) for v in vocabulary)
    ):
        return None
    return vocabulary, merges


__all__ = ["FORMAT", "Prepared", "UnpackedEngine", "open_engine", "prepare"]
