"""Cache entry records: :class:`Manifest` (``entries/<id>/manifest.json``:
files with size and sha256, source, commit, artifact), :class:`FileRecord`,
:class:`FileProblem` and :class:`Entry` (an installed entry, with its quick
and full checks)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.registry.store.layout import CACHE_FORMAT, LAST_USED_NAME, PINNED_NAME

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
    def from_dict(cls, d: dict[str, Any]) -> FileRecord:
        return cls(str(d["path"]), int(d["size"]), str(d["sha256"]), int(d.get("mtime_ns", 0)))


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
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        if int(d.get("format", 0)) != CACHE_FORMAT:
            raise ValueError(f"unsupported manifest format {d.get('format')!r}")
        content = str(d["content"])
        if "/" in content or content in ("", ".", ".."):
            raise ValueError(f"bad content directory {content!r}")
        return cls(
            key=str(d["key"]),
            content=content,
            files=tuple(FileRecord.from_dict(f) for f in d["files"]),
            kind=str(d.get("kind", "file")),
            source=dict(d.get("source") or {}),
            download=dict(d.get("download") or {}),
            commit=d.get("commit"),
            artifact=dict(d.get("artifact") or {}),
            created=float(d.get("created", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file of an entry that does not match its manifest."""

    path: str
    problem: str  # "missing", "size", "stamp", "sha256"
    expected: str | None = None
    actual: str | None = None


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
            return float(json.loads((self.dir / LAST_USED_NAME).read_text())["t"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

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
        """Re-hash every file against the manifest (reads everything once)."""
        from modelhub.registry.files import hash_file

        problems: list[FileProblem] = []
        for f in self.manifest.files:
            p = self.path / f.path
            try:
                if p.is_symlink() or not p.is_file():
                    problems.append(FileProblem(f.path, "missing"))
                    continue
                got = hash_file(p)
                digest, size = got.sha256, got.size
            except OSError:
                problems.append(FileProblem(f.path, "missing"))
                continue
            if size != f.size:
                problems.append(FileProblem(f.path, "size", str(f.size), str(size)))
            elif digest != f.sha256:
                problems.append(FileProblem(f.path, "sha256", f.sha256, digest))
        return problems
