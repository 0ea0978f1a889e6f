"""Cache entry records: :class:`Manifest` (``entries/<id>/manifest.json``:
files with size and sha256, source, commit, artifact), :class:`FileRecord`,
:class:`FileProblem` and :class:`Entry` (an installed entry, with its quick
and full checks)."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.errors import CacheError
from modelhub.registry import files
from modelhub.registry.store.layout import (
    CACHE_FORMAT,
    LAST_USED_NAME,
    MANIFEST_NAME,
    PINNED_NAME,
)
from modelhub.saferead import read_json

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file of an entry, relative to the content directory."""

    path: str
    size: int
    sha256: str
    mtime_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "mtime_ns": self.mtime_ns,
        }

    @classmethod
    def from_dict(cls, d: Any) -> FileRecord:
        """A record from manifest or lock JSON, every field checked:
        :class:`ManifestError` for anything modelhub would not have written."""
        if not isinstance(d, dict):
            raise ManifestError(f"a file record is a JSON {type(d).__name__}, not an object")
        path = safe_relpath(d.get("path"))
        size = _int(d.get("size"), f"size of {path}")
        sha = d.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ManifestError(f"sha256 of {path} is not 64 hex digits: {_show(sha)}")
        mtime = _int(d.get("mtime_ns", 0), f"mtime_ns of {path}")
        return cls(path, size, sha, mtime)


class ManifestError(CacheError, ValueError):
    """A manifest (or a lock's file list) that modelhub would not have
    written: a wrong type, a path leaving the entry, a bad digest.  The entry
    counts as damaged; nothing it names is trusted."""


_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_PATH = 4096
_MAX_INT = 1 << 63  # sizes and nanosecond stamps fit in 63 bits


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (int, float)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value < _MAX_INT:
        raise ManifestError(f"{what} is not a non-negative integer: {_show(value)}")
    return value


def safe_relpath(path: Any) -> str:
    """``path`` when it is a plain relative name inside an entry (``a/b.txt``):
    a string of ``/``-separated non-empty parts, none ``.`` or ``..``, no
    backslash, NUL or leading ``/``; else :class:`ManifestError`.  Whether a
    part is a link is for the code that opens it (no-follow) to see."""
    if not isinstance(path, str):
        raise ManifestError(f"a file path is a JSON {type(path).__name__}, not a string")
    if not path or len(path) > _MAX_PATH:
        raise ManifestError(f"file path of {len(path)} characters")
    if "\\" in path or "\0" in path or path.startswith("/"):
        raise ManifestError(f"file path {_show(path)} is not a plain relative name")
    parts = path.split("/")
    if any(p in ("", ".", "..") or len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):
        raise ManifestError(f"file path {_show(path)} leaves the entry or has an empty part")
    return path


def check_file_set(files: tuple[FileRecord, ...]) -> None:
    """No path twice, and none both a file and a folder (``x`` and ``x/y``)."""
    seen: set[str] = set()
    for f in files:
        if f.path in seen:
            raise ManifestError(f"file path {_show(f.path)} is listed twice")
        seen.add(f.path)
    for f in files:
        parts = f.path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in seen:
                raise ManifestError(f"{_show('/'.join(parts[:i]))} is both a file and a folder")


def _opt_dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{key} is a JSON {type(value).__name__}, not an object")
    return value


def _str(value: Any, what: str, *, limit: int = _MAX_PATH) -> str:
    if not isinstance(value, str) or len(value) > limit or "\0" in value:
        raise ManifestError(f"{what} is not a string of at most {limit} characters")
    return value


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an entry holds and where it came from.  Written last: its presence
    marks the entry complete.

    ``kind`` is ``"zip"`` (extracted archive), ``"file"`` (one plain file) or
    ``"hf"`` (a Hugging Face snapshot); ``source`` the source that served it
    (``{"kind", "location", "revision"}``); ``download`` the verified object
    (``url``, ``size``, ``sha256``, ``md5``, ``etag``, ``version_id``);
    ``commit`` the Hugging Face commit hash; ``artifact`` the resolved
    :meth:`Artifact.to_dict` (name, language, version, engine live in its record).
    """

    key: str
    content: str
    files: tuple[FileRecord, ...]
    kind: str = "file"
    source: dict[str, Any] = field(default_factory=dict)
    download: dict[str, Any] = field(default_factory=dict)
    commit: str | None = None
    artifact: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    format: int = CACHE_FORMAT

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "key": self.key,
            "content": self.content,
            "kind": self.kind,
            "source": self.source,
            "download": self.download,
            "commit": self.commit,
            "created": self.created,
            "size": self.size,
            "files": [f.to_dict() for f in self.files],
            "artifact": self.artifact,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Manifest:
        """A manifest from its JSON, every field checked (types, paths that
        stay inside the entry): :class:`ManifestError` otherwise."""
        if not isinstance(d, dict):
            raise ManifestError(f"the manifest is a JSON {type(d).__name__}, not an object")
        if d.get("format", 0) != CACHE_FORMAT or type(d.get("format")) is not int:
            raise ManifestError(f"unsupported manifest format {_show(d.get('format'))}")
        content = _str(d.get("content"), "content", limit=255)
        if "/" in content or "\\" in content or content in ("", ".", ".."):
            raise ManifestError(f"bad content directory {_show(content)}")
        files = d.get("files")
        if not isinstance(files, list):
            raise ManifestError(f"files is a JSON {type(files).__name__}, not a list")
        records = tuple(FileRecord.from_dict(f) for f in files)
        check_file_set(records)
        commit = d.get("commit")
        if commit is not None:
            commit = _str(commit, "commit", limit=255)
        created = d.get("created", 0.0)
        if type(created) not in (int, float) or not 0 <= created < 1e13:
            raise ManifestError(f"created is not a time: {_show(created)}")
        return cls(
            key=_str(d.get("key"), "key"),
            content=content,
            files=records,
            kind=_str(d.get("kind", "file"), "kind", limit=64),
            source=_opt_dict(d, "source"),
            download=_opt_dict(d, "download"),
            commit=commit,
            artifact=_opt_dict(d, "artifact"),
            created=float(created),
        )


MANIFEST_LIMIT = 64 << 20  # a snapshot of 100,000 files stays far below


def load_manifest(entry_dir: Path) -> Manifest:
    """The manifest of ``entry_dir``, read without blocking or following a
    link (:func:`modelhub.saferead.read_json`) and validated.
    FileNotFoundError when there is none; :class:`ManifestError` or
    :class:`~modelhub.saferead.UnsafeFileError` (both ValueError) when
    it is damaged; OSError when it cannot be read."""
    path = entry_dir / MANIFEST_NAME
    return Manifest.from_dict(read_json(path, limit=MANIFEST_LIMIT))


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file of an entry that does not match its manifest."""

    path: str
    problem: str  # "missing", "size", "stamp", "sha256"
    expected: str | None = None
    actual: str | None = None


def hash_file(path: Path) -> tuple[str | None, int]:
    """(sha256 hex or None when missing / not a regular file, size), never
    following a link nor waiting on a FIFO (:func:`modelhub.registry.files.hash_file`)."""
    try:
        got = files.hash_file(path, nofollow=True)
    except OSError:
        return None, 0
    return got.sha256, got.size


def check_file(base: Path, f: FileRecord) -> FileProblem | None:
    """The problem of one file of an entry (None when it matches): never
    read through a link on the way, never a FIFO opened."""
    parts = f.path.split("/")
    if f.path.startswith("/") or ".." in parts:
        return FileProblem(f.path, "unsafe path")
    # Every directory on the way must be real: a link could lead out of the cache.
    cur = base
    for part in parts[:-1]:
        cur = cur / part
        if cur.is_symlink():
            return FileProblem(f.path, "missing")
    digest, size = hash_file(base / f.path)
    if digest is None:
        return FileProblem(f.path, "missing")
    if size != f.size:
        return FileProblem(f.path, "size", str(f.size), str(size))
    if digest != f.sha256:
        return FileProblem(f.path, "sha256", f.sha256, digest)
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """A complete cache entry (its manifest parsed)."""

    key: str
    dir: Path  # entries/<id>
    manifest: Manifest

    @property
    def path(self) -> Path:
        """The ready directory with the artifact's files."""
        return self.dir / self.manifest.content

    @property
    def pinned(self) -> bool:
        return (self.dir / PINNED_NAME).exists()

    @property
    def last_used(self) -> float | None:
        """When pull() last handed this entry out (epoch seconds), or None."""
        try:
            t = read_json(self.dir / LAST_USED_NAME, limit=4096)["t"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return float(t) if type(t) in (int, float) and 0 <= t < 1e13 else None

    def quick_check(self) -> list[FileProblem]:
        """Sizes and stat stamps (mtime_ns) only: cheap enough for every cache hit."""
        problems: list[FileProblem] = []
        base = self.path
        for f in self.manifest.files:
            try:
                st = os.stat(base / f.path, follow_symlinks=False)
            except OSError:
                problems.append(FileProblem(f.path, "missing"))
                continue
            if st.st_size != f.size:
                problems.append(FileProblem(f.path, "size", str(f.size), str(st.st_size)))
            elif f.mtime_ns and st.st_mtime_ns != f.mtime_ns:
                problems.append(FileProblem(f.path, "stamp", str(f.mtime_ns), str(st.st_mtime_ns)))
        return problems

    def verify(self) -> list[FileProblem]:
        """Re-hash every file against the manifest (reads everything once),
        the way ``cache verify`` does: never through a link, never blocking
        on a FIFO (see :func:`modelhub.registry.store.integrity.hash_entries`)."""
        return [p for f in self.manifest.files if (p := check_file(self.path, f)) is not None]
