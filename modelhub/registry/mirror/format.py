"""Mirrors for air-gapped sites, and lock files for reproducible installs.

A mirror is a directory laid out like the remote, plus a manifest::

    modelhub-mirror.json                 written last: format, models, sha256 of every file
    cards/<card>.md                      the cards of the exported models
    <folder>/<artifact.zip>/...          a Spark NLP artifact, extracted (the cache keeps
                                         the verified contents, not the zip)
    hf/<owner>/<repo>/<revision>/...     a Hugging Face model's files
    models/<name>_<lang>/...             anything else

:func:`export_mirror` writes one from verified cache entries (pulling what is
missing); :func:`import_mirror` checks every file against the manifest and
only then installs the entries into the cache, all or nothing.  A mirror
named in ``MODELHUB_MIRROR`` / ``mirrors`` is read by the local source
(:mod:`modelhub.registry.fetch.sources.local`), which checks what it copies
against the same manifest (:func:`check_copy`); its ``cards/`` folder joins
the catalog.

A lock file (:func:`make_lock`, :func:`pull_locked`) records, per model,
the exact artifact (cache key, source, commit) and every file's size and
sha256; pulling with it fails when anything resolves or arrives differently.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from modelhub.errors import IntegrityError, ModelhubError
from modelhub.registry.artifact import Artifact
from modelhub.registry.files import copy_hashing, hash_file
from modelhub.registry.store.manifest import FileRecord
from modelhub.saferead import read_json

log = logging.getLogger(__name__)

MANIFEST_NAME = "modelhub-mirror.json"
MIRROR_FORMAT = 1
CARDS_DIR = "cards"


class MirrorError(ModelhubError):
    """A directory is not a usable mirror (no manifest, unreadable, unsafe paths)."""


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class MirrorModel:
    """One artifact in a mirror: its files live under ``dir``."""

    name: str
    language: str | None
    key: str
    dir: str  # relative to the mirror root, POSIX
    kind: str  # the cache entry's kind ("zip", "hf", "dir", "file")
    files: tuple[FileRecord, ...]  # relative to ``dir``
    commit: str | None = None
    artifact: dict[str, Any] = field(default_factory=dict)
    download: dict[str, Any] = field(default_factory=dict)
    card: str | None = None  # relative path of its card in the mirror

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "key": self.key,
            "dir": self.dir,
            "kind": self.kind,
            "commit": self.commit,
            "card": self.card,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "download": self.download,
            "artifact": self.artifact,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MirrorModel:
        return cls(
            name=str(d["name"]),
            language=d.get("language"),
            key=str(d["key"]),
            dir=_safe_rel(str(d["dir"])),
            kind=str(d.get("kind", "dir")),
            files=tuple(
                FileRecord(_safe_rel(str(f["path"])), int(f["size"]), str(f["sha256"]))
                for f in d["files"]
            ),
            commit=d.get("commit"),
            artifact=dict(d.get("artifact") or {}),
            download=dict(d.get("download") or {}),
            card=_safe_rel(d["card"]) if d.get("card") else None,
        )


@dataclass(frozen=True)
class MirrorManifest:
    models: tuple[MirrorModel, ...]
    files: dict[str, tuple[int, str]]  # every file but the manifest: path -> (size, sha256)
    created: float = 0.0
    tool: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MIRROR_FORMAT,
            "created": self.created,
            "tool": self.tool,
            "models": [m.to_dict() for m in self.models],
            "files": [
                {"path": p, "size": s, "sha256": h} for p, (s, h) in sorted(self.files.items())
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MirrorManifest:
        if d.get("format") != MIRROR_FORMAT:
            raise ValueError(f"unsupported mirror format {d.get('format')!r}")
        files = {_safe_rel(str(f["path"])): (int(f["size"]), str(f["sha256"])) for f in d["files"]}
        return cls(
            models=tuple(MirrorModel.from_dict(m) for m in d["models"]),
            files=files,
            created=float(d.get("created", 0.0)),
            tool=str(d.get("tool", "")),
        )


def _safe_rel(path: str) -> str:
    """A relative POSIX path that stays inside the mirror, or ValueError."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or "\\" in path or any(s in ("", "..") for s in p.parts):
        raise ValueError(f"unsafe path {path!r} in a mirror manifest")
    if p.parts and ":" in p.parts[0]:
        raise ValueError(f"unsafe path {path!r} in a mirror manifest")
    return p.as_posix()


def mirror_root(location: str | Path) -> Path:
    s = str(location)
    if s.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(s).path))
    return Path(s).expanduser()


def read_manifest(root: Path) -> MirrorManifest:
    path = root / MANIFEST_NAME
    try:
        # A mirror's manifest lists every file of every model: larger than
        # an entry's, still bounded; read without blocking or following a link.
        data = read_json(path, limit=256 << 20)
        return MirrorManifest.from_dict(data)
    except FileNotFoundError:
        raise MirrorError(
            f"{root} is not a modelhub mirror: {MANIFEST_NAME} is missing "
            "(make one with `modelhub export NAME... --to DIR`)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MirrorError(f"{path}: unreadable mirror manifest ({exc})") from exc


_manifests: dict[str, tuple[tuple[int, int], MirrorManifest | None]] = {}


def cached_manifest(root: Path) -> MirrorManifest | None:
    """The mirror's manifest, re-read only when the file changed; None when
    the directory has none (a hand-made mirror)."""
    path = root / MANIFEST_NAME
    try:
        st = path.stat()
    except OSError:
        return None
    sig = (st.st_mtime_ns, st.st_size)
    hit = _manifests.get(str(path))
    if hit is not None and hit[0] == sig:
        return hit[1]
    manifest = read_manifest(root)
    _manifests[str(path)] = (sig, manifest)
    return manifest


# --------------------------------------------------------------------------- hashing


def _hash_copy(src: Path, dst: Path | None) -> tuple[int, str]:
    """(size, sha256) of ``src``, copied to ``dst`` (which must not exist) in
    the same read when given."""
    if dst is None:
        got = hash_file(src)
        return got.size, got.sha256
    got = copy_hashing(src, dst)
    return got.size, got.sha256


def _mismatch(where: str, rel: str, what: str, expected: str, actual: str) -> IntegrityError:
    return IntegrityError(
        f"{where}: {rel}: {what} mismatch: expected {expected}, got {actual} "
        "(the mirror manifest disagrees with the file); nothing was installed",
        artifact=rel,
        expected=expected,
        actual=actual,
    )


def _check(where: str, rel: str, got: tuple[int, str], want: tuple[int, str] | None) -> None:
    if want is None:
        raise IntegrityError(
            f"{where}: {rel} is not listed in the mirror manifest; nothing was installed",
            artifact=rel,
            expected="a listed file",
            actual=rel,
        )
    if got[0] != want[0]:
        raise _mismatch(where, rel, "size", str(want[0]), str(got[0]))
    if got[1] != want[1]:
        raise _mismatch(where, rel, "sha256", want[1], got[1])


def check_copy(name: str, root: Path, found: Path, fetched: Any) -> None:
    """For the local source: when ``root`` is a mirror with a manifest, the
    files just copied from ``found`` (a directory or one file) must be
    exactly what the manifest lists for it.  Raises IntegrityError after
    deleting the staged copy."""
    manifest = cached_manifest(root)
    if manifest is None:
        return
    try:
        rel_found = found.resolve().relative_to(root.resolve()).as_posix()
        if found.is_file():
            got = (int(fetched.download.get("size", -1)), str(fetched.download.get("sha256")))
            _check(str(root), rel_found, got, manifest.files.get(rel_found))
            return
        listed = {
            p[len(rel_found) + 1 :]: v
            for p, v in manifest.files.items()
            if p.startswith(rel_found + "/")
        }
        copied = {f.path: (f.size, f.sha256) for f in fetched.files}
        for rel, got in sorted(copied.items()):
            _check(f"{root} ({name})", f"{rel_found}/{rel}", got, listed.get(rel))
        missing = sorted(set(listed) - set(copied))
        if missing:
            raise IntegrityError(
                f"{root} ({name}): {rel_found}/{missing[0]} is listed in the mirror manifest "
                f"but missing{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}",
                artifact=name,
                expected=missing[0],
                actual=None,
            )
    except BaseException:
        shutil.rmtree(fetched.staged, ignore_errors=True)
        raise
    log.info("%s: %d files checked against the mirror manifest in %s", name, len(copied), root)


# --------------------------------------------------------------------------- layout


def layout_dir(artifact: Artifact | dict[str, Any]) -> str:
    """Where a mirror keeps an artifact (the remote layout)."""
    if isinstance(artifact, Artifact):
        record = artifact.record.to_dict()
        sources = [s.to_dict() for s in artifact.sources]
    else:
        record = artifact.get("record", {})
        sources = artifact.get("sources", [])
    if record.get("artifact"):
        return _safe_rel(
            f"{(record.get('folder') or 'public/models').strip('/')}/{record['artifact']}"
        )
    hf = next((s for s in sources if s.get("kind") == "hf"), None)
    if hf is not None:
        return _safe_rel(f"hf/{hf['location']}/{hf.get('revision') or 'main'}")
    return _safe_rel(f"models/{record.get('name')}_{record.get('language') or 'xx'}")


# --------------------------------------------------------------------------- export


# --------------------------------------------------------------------------- import


# --------------------------------------------------------------------------- lock
