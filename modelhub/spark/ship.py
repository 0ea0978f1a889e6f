"""Shipping a verified cache entry from the driver to executors.

The driver packs the entry's files into one uncompressed tar (weights do not
compress), hashing every byte on the way and comparing it with the entry's
manifest, so what leaves the driver is verified.  An executor installs the
tar into its own cache through the same rules as a download: every member
must be a regular file named in the manifest, its size and sha256 must match
the manifest, the files go to a staging directory of the store and become
visible by one rename with the manifest written last.  A mismatch raises
:class:`~modelhub.errors.IntegrityError` and leaves nothing in the cache.

Nothing here imports pyspark: the functions work on paths and manifests, so
they are testable (and usable with other schedulers) on their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from modelhub.errors import IntegrityError
from modelhub.registry.store.manifest import Entry, Manifest
from modelhub.registry.store.store import Store

log = logging.getLogger(__name__)

_BLOCK = 4 << 20


@dataclass(frozen=True)
class Installed:
    """What :func:`install_packed` did: the ready entry and whether it had to
    install it (False: a matching complete entry was already in the cache)."""

    entry: Entry
    installed: bool


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def same_content(entry: Entry, manifest: Manifest) -> bool:
    """True when ``entry`` holds exactly the files (paths, sizes, sha256) of
    ``manifest``: a cache that already has them needs nothing shipped."""
    mine = {(f.path, f.size, f.sha256) for f in entry.manifest.files}
    theirs = {(f.path, f.size, f.sha256) for f in manifest.files}
    return mine == theirs


def pack_entry(entry: Entry, target: Path) -> Path:
    """Writes the entry's files into the tar ``target``, checking each
    file's size and sha256 against the manifest while reading it (one pass).
    Raises :class:`IntegrityError` when the cache entry is damaged; nothing
    is left at ``target`` then."""
    manifest = entry.manifest
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for f in manifest.files:
                src = entry.path / f.path
                info = tarfile.TarInfo(f.path)
                info.size = f.size
                info.mode = 0o644
                with open(src, "rb") as fh:
                    hashing = _HashingReader(fh)
                    tar.addfile(info, hashing)
                    # tarfile reads exactly info.size bytes; a longer file is damaged too.
                    extra = fh.read(1)
                digest = hashing.hexdigest()
                if hashing.size != f.size or extra:
                    raise IntegrityError(
                        f"{src}: size differs from the cache manifest of {entry.key} "
                        f"(expected {f.size} bytes); run `modelhub pull --verify` to repair it",
                        expected=str(f.size),
                        actual=f"{hashing.size}{'+' if extra else ''}",
                    )
                if digest != f.sha256:
                    raise IntegrityError(
                        f"{src}: sha256 differs from the cache manifest of {entry.key}; "
                        "run `modelhub pull --verify` to repair it",
                        expected=f.sha256,
                        actual=digest,
                    )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target


class _HashingReader:
    """A file wrapper that hashes what tarfile reads through it."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._h = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._h.update(data)
        self.size += len(data)
        if n > 0 and len(data) < n:
            # tarfile would pad a short read silently; report it as damage.
            raise IntegrityError(
                f"{getattr(self._fh, 'name', 'file')}: shorter than its cache manifest says",
                actual=str(self.size),
            )
        return data

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def install_packed(
    store: Store, manifest: Manifest, packed: Path, *, stale_after: float = 120.0
) -> Installed:
    """Installs the tar ``packed`` (made by :func:`pack_entry` from an entry
    with ``manifest``) into ``store``, unless a complete entry with the same
    files is already there.  One process per artifact does the work; others
    on the same cache wait on its lock and then find the entry."""
    key = manifest.key

    def ready() -> Entry | None:
        e = store.lookup(key)
        if e is not None and same_content(e, manifest) and not e.quick_check():
            return e
        return None

    found = ready()
    if found is not None:
        return Installed(found, False)
    lock = store.lock(key, stale_after=stale_after)
    try:
        if lock.acquire(lambda: ready() is not None):
            found = ready()
            if found is not None:
                return Installed(found, False)
        found = ready()
        if found is not None:
            return Installed(found, False)
        staged = store.staging_dir(key)
        try:
            _extract_verified(packed, staged, manifest)
            entry = store.install(key, staged, manifest)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    finally:
        lock.release()
    log.info("installed %s from the shipped %s into %s", key, packed.name, entry.path)
    return Installed(entry, True)


def _extract_verified(packed: Path, staged: Path, manifest: Manifest) -> None:
    expected = {f.path: f for f in manifest.files}
    for name in expected:
        if not _safe_name(name):
            raise IntegrityError(f"the manifest of {manifest.key} names an unsafe path {name!r}")
    seen: set[str] = set()
    try:
        tar = tarfile.open(packed, "r:")  # noqa: SIM115 (closed by the with below)
    except (OSError, tarfile.TarError) as exc:
        raise IntegrityError(f"{packed}: not a readable tar of {manifest.key} ({exc})") from exc
    with tar:
        try:
            for member in tar:
                name = member.name
                rec = expected.get(name)
                if rec is None or not member.isreg() or name in seen:
                    why = (
                        "not a regular file"
                        if rec is not None and not member.isreg()
                        else "named twice"
                        if name in seen
                        else "not in the manifest"
                    )
                    raise IntegrityError(f"{packed}: member {name!r} of {manifest.key} is {why}")
                seen.add(name)
                dst = staged / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None  # regular files always have data
                h = hashlib.sha256()
                size = 0
                with src, open(dst, "xb") as out:
                    while data := src.read(_BLOCK):
                        h.update(data)
                        out.write(data)
                        size += len(data)
                if size != rec.size or h.hexdigest() != rec.sha256:
                    raise IntegrityError(
                        f"{packed}: {name} of {manifest.key} does not match the driver's manifest",
                        expected=f"{rec.size} bytes, sha256 {rec.sha256}",
                        actual=f"{size} bytes, sha256 {h.hexdigest()}",
                    )
        except tarfile.TarError as exc:
            raise IntegrityError(f"{packed}: damaged tar of {manifest.key} ({exc})") from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise IntegrityError(
            f"{packed}: {manifest.key} lacks {len(missing)} file(s) of its manifest: "
            + ", ".join(missing[:5])
        )
