"""The on-disk catalog index: a compact file of independently loadable sections.

Layout of ``{cache_dir}/catalog/index-<key>.mhx``::

    MAGIC (8 bytes) | header length (4, big endian) | header CRC-32 (4) | header | sections...

The header (a :mod:`marshal`-ed dict) holds the input fingerprints and a table
``{section: (offset, length, crc32)}``. Every blob is CRC-checked before it is
unmarshalled, so a corrupt or truncated file is detected and rebuilt, never
trusted. Files are written to a temporary name and moved into place with
``os.replace``, so readers see the old file or the new one, never half of one.

The freshness check is only ``os.stat`` of the inputs: this module is on the
warm path of ``modelhub list`` and imports nothing beyond ``os``, ``marshal``
and ``zlib``.
"""

from __future__ import annotations

import marshal
import os
import stat
import zlib

from modelhub.tables import render_table

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAGIC = b"MHIDX\x00\x03\n"
FORMAT = 3
_PREFIX = len(MAGIC) + 8

# Card folders with more files than this are fingerprinted by their
# directories' mtimes only (adding, removing or renaming a card, or an editor's
# save-by-rename, changes those); a stat() per file would cost more than the
# whole warm `modelhub list`.
PER_FILE_LIMIT = 2000


class LazyLogger:
    """``logging.getLogger(name)``, with :mod:`logging` imported at the first
    message: warm-path modules stay clear of its import cost."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import logging

        return getattr(logging.getLogger(self._name), attr)


class IndexCorrupt(Exception):
    """The index file cannot be trusted; it is rebuilt."""


def stat_sig(path: str) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a path, ``None`` when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def dir_sig(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def fingerprint_fresh(fp: dict[str, Any]) -> bool:
    """True when every recorded input still has the recorded stat signature."""
    for path, sig in fp["files"]:
        if stat_sig(path) != sig:
            return False
    return all(dir_sig(path) == sig for path, sig in fp["dirs"])


def index_key(parts: list[str]) -> str:
    text = "\x00".join(parts).encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def write_index(path: str, header: dict[str, Any], sections: dict[str, Any]) -> None:
    """Writes the index atomically (temporary file in the same folder, then
    ``os.replace``)."""
    blobs: list[bytes] = []
    table: dict[str, tuple[int, int, int]] = {}
    offset = 0
    for name, value in sections.items():
        blob = marshal.dumps(value)
        table[name] = (offset, len(blob), zlib.crc32(blob))
        blobs.append(blob)
        offset += len(blob)
    head = dict(header)
    head["format"] = FORMAT
    head["sections"] = table
    head_blob = marshal.dumps(head)
    payload_start = _PREFIX + len(head_blob)
    head["file_size"] = payload_start + offset
    # file_size changes the header's length only if its digits do; settle it
    while True:
        head_blob = marshal.dumps(head)
        size = _PREFIX + len(head_blob) + offset
        if head["file_size"] == size:
            break
        head["file_size"] = size
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # not at module level: pathlib stays off the warm path
    from pathlib import Path

    from modelhub.registry.files import atomic_write

    pieces = [
        MAGIC,
        len(head_blob).to_bytes(4, "big"),
        zlib.crc32(head_blob).to_bytes(4, "big"),
        head_blob,
        *blobs,
    ]
    atomic_write(Path(path), pieces, fsync=False)


def _open_regular(path: str) -> Any:
    """``open(path, "rb")`` that never blocks or follows a link: a FIFO or
    device put in place of the index (O_NONBLOCK returns at once) or a link
    is IndexCorrupt, so the index is rebuilt instead of hanging."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IndexCorrupt(f"{path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class IndexFile:
    """A read handle on an index file: the header now, sections on demand."""

    __slots__ = ("_cache", "_data_start", "header", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._cache: dict[str, Any] = {}
        try:
            with _open_regular(path) as fh:
                prefix = fh.read(_PREFIX)
                if len(prefix) != _PREFIX or prefix[: len(MAGIC)] != MAGIC:
                    raise IndexCorrupt(f"{path}: not a modelhub index of format {FORMAT}")
                length = int.from_bytes(prefix[len(MAGIC) : len(MAGIC) + 4], "big")
                crc = int.from_bytes(prefix[len(MAGIC) + 4 :], "big")
                head_blob = fh.read(length)
                size = os.fstat(fh.fileno()).st_size
        except OSError as exc:
            raise IndexCorrupt(f"{path}: {exc.strerror}") from None
        if len(head_blob) != length or zlib.crc32(head_blob) != crc:
            raise IndexCorrupt(f"{path}: header checksum mismatch")
        try:
            header = marshal.loads(head_blob)
        except (ValueError, EOFError, TypeError) as exc:
            raise IndexCorrupt(f"{path}: unreadable header ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise IndexCorrupt(f"{path}: not a modelhub index of format {FORMAT}")
        if header.get("file_size") != size:
            raise IndexCorrupt(
                f"{path}: truncated ({size} bytes, expected {header.get('file_size')})"
            )
        self.header = header
        self._data_start = _PREFIX + length

    def has(self, name: str) -> bool:
        return name in self.header["sections"]

    def section(self, name: str, default: Any = None) -> Any:
        """The section's value (cached); ``default`` when there is no such section."""
        if name in self._cache:
            return self._cache[name]
        entry = self.header["sections"].get(name)
        if entry is None:
            return default
        offset, length, crc = entry
        try:
            with _open_regular(self.path) as fh:
                fh.seek(self._data_start + offset)
                blob = fh.read(length)
        except OSError as exc:
            raise IndexCorrupt(f"{self.path}: {exc.strerror}") from None
        if len(blob) != length or zlib.crc32(blob) != crc:
            raise IndexCorrupt(f"{self.path}: section {name!r} checksum mismatch")
        try:
            value = marshal.loads(blob)
        except (ValueError, EOFError, TypeError) as exc:
            raise IndexCorrupt(f"{self.path}: section {name!r} unreadable ({exc})") from None
        self._cache[name] = value
        return value

    def sections(self, names: list[str]) -> list[Any]:
        """Several sections with one open(); for the listing's shards."""
        out: list[Any] = []
        missing = [n for n in names if n not in self._cache]
        if missing:
            try:
                with _open_regular(self.path) as fh:
                    for name in missing:
                        offset, length, crc = self.header["sections"][name]
                        fh.seek(self._data_start + offset)
                        blob = fh.read(length)
                        if len(blob) != length or zlib.crc32(blob) != crc:
                            raise IndexCorrupt(f"{self.path}: section {name!r} checksum mismatch")
                        try:
                            self._cache[name] = marshal.loads(blob)
                        except (ValueError, EOFError, TypeError) as exc:
                            raise IndexCorrupt(
                                f"{self.path}: section {name!r} unreadable ({exc})"
                            ) from None
            except OSError as exc:
                raise IndexCorrupt(f"{self.path}: {exc.strerror}") from None
        for name in names:
            out.append(self._cache[name])
        return out


# -- keys shared by the builder and the readers ------------------------------------

NAME_BUCKETS = 64

# What `--task` accepts besides the words of the task itself.
TASK_ALIASES = {
    "ner": "named entity recognition",
    "pos": "part of speech tagging",
    "embedding": "embeddings",
    "classification": "text classification",
    "deid": "de identification",
    "asr": "automatic speech recognition",
    "qa": "question answering",
}


def name_bucket(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogateescape")) % NAME_BUCKETS


def norm_task(task: str | None) -> str:
    if not task:
        return ""
    return " ".join(task.lower().replace("_", " ").replace("-", " ").split())


def norm_lang(lang: str | None) -> str:
    return (lang or "").strip().lower()


# -- listing rows: picked and rendered alike by the builder and `modelhub list` ------

# Columns of a listing row (see build.build_sections).
ROW_NAME, ROW_LANG, ROW_TASK, ROW_ANNOTATOR, ROW_LIB, ROW_SPARK, ROW_DATE = range(7)
ROW_ENGINE, ROW_FOLDER, ROW_TAGS, ROW_LIB_V, ROW_SPARK_V, ROW_KEY, ROW_TITLE = range(7, 14)

_LIST_HEADERS = ("name", "lang", "task", "annotator", "version", "spark", "date", "folder")


def pick_rows(
    rows: list[tuple[Any, ...]],
    *,
    all_versions: bool = False,
    annotator: str | None = None,
    tag: str | None = None,
    engine: str | None = None,
    folder: str | None = None,
    lib_target: tuple[int, ...] = (),
    spark_target: tuple[int, ...] = (),
) -> list[tuple[Any, ...]]:
    """The rows ``modelhub list`` shows: per model (name, language, folder) its
    first row that passes the filters (rows come best first within a model),
    or every passing row with ``all_versions``. Text filters compare without
    case (``folder`` exactly); empty targets have no upper bound."""
    if lib_target or spark_target:
        from modelhub.registry.versions import is_compatible
    annotator = annotator.lower() if annotator else None
    tag = tag.lower() if tag else None
    engine = engine.lower() if engine else None
    picked: list[tuple[Any, ...]] = []
    last_group: tuple[Any, ...] | None = None
    for row in rows:
        group = (row[ROW_NAME], row[ROW_LANG], row[ROW_FOLDER])
        if group == last_group and not all_versions:
            continue  # this model already has its newest compatible row
        if annotator is not None and (row[ROW_ANNOTATOR] or "").lower() != annotator:
            continue
        if folder is not None and row[ROW_FOLDER] != folder:
            continue
        if engine is not None and (row[ROW_ENGINE] or "").lower() != engine:
            continue
        if tag is not None and tag not in (t.lower() for t in row[ROW_TAGS]):
            continue
        if lib_target and not is_compatible(row[ROW_LIB_V], lib_target):
            continue
        if spark_target and not is_compatible(row[ROW_SPARK_V], spark_target):
            continue
        picked.append(row)
        last_group = group
    return picked


def render_rows(rows: list[tuple[Any, ...]]) -> str:
    """The ``modelhub list`` table of picked rows; the ENGINE column only when
    some row names an engine."""
    headers = list(_LIST_HEADERS)
    columns = [1, 2, 3, 4, 5, 6, 8]  # after the name; an empty cell shows "-"
    if any(r[ROW_ENGINE] for r in rows):
        headers.append("engine")
        columns.append(7)
    cells = [(r[0], *(r[c] or "-" for c in columns)) for r in rows]
    return render_table(headers, cells)
