"""The on-disk cache: layout, manifests, locks and atomic installation.

Layout under the cache root (``Settings.cache_dir``)::

    CACHEDIR.TAG                 standard tag: backup tools skip the cache
    .modelhub-cache              marker (JSON): maintenance refuses a root without it
    entries/<id>/manifest.json   written last; an entry exists iff this file parses
    entries/<id>/c-<token>/      the ready directory pull() returns (files only)
    entries/<id>/pinned          present: the entry is pinned (kept by prune)
    entries/<id>/last-used       JSON {"t": epoch}; rewritten at most once an hour
    downloads/<id>/<token>.part  a partial download (preallocated, written with pwrite)
    downloads/<id>/<token>.json  its sidecar: URL, ETag/VersionId, size, finished chunks
    locks/<id>.lock              filelock; only stops duplicate downloads
    locks/<id>.json              holder: host, pid, start, last progress
    locks/<id>.use               flock'ed shared by every process using the entry,
                                 exclusively (non-blocking) by prune/rm
    tmp/<id>.<token>/            staging for extraction/snapshots; renamed into place
    trash/                       entries renamed out of the way before deletion
    entries/<id>/derived/        files derived from the entry (ONNX exports), each
                                 folder verified by its own derived.json
    derived/local/<digest>/      the same for model directories outside the cache

``<id>`` is a readable, filesystem-safe form of the artifact key plus 8 hex
digits of its SHA-256 (``public--models--ner_dl_en_...zip-1a2b3c4d``).

Correctness never depends on the locks: every write goes to a unique temporary
name and becomes visible by one ``rename``; the manifest is replaced atomically
and names the content directory, so a reader sees the old entry or the new one,
never a mix.  A partial download is adopted for resume only by a process that
gets an exclusive ``flock`` on it, so two writers never share one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.config import Settings
from modelhub.errors import CacheError
from modelhub.registry.files import (
    DIR_MODE,
    FILE_MODE,
    SHARED_DIR_MODE,
    atomic_write,
    foreign_cache_item,
)
from modelhub.registry.store.layout import (
    CACHE_FORMAT,
    CACHEDIR_TAG,
    DEFAULT_STALE_AFTER,
    LAST_USED_INTERVAL,
    LAST_USED_NAME,
    MANIFEST_NAME,
    MARKER_NAME,
    PINNED_NAME,
    _shared_mkdir,
    delete_path,
    entry_id,
    is_disk_full,
    not_a_cache,
    permission_error,
)
from modelhub.registry.store.locks import ArtifactLock, EntryLease, _open_use_file
from modelhub.registry.store.manifest import Entry, FileRecord, Manifest, load_manifest
from modelhub.saferead import read_json

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- manifest


# --------------------------------------------------------------------------- lock


# --------------------------------------------------------------------------- in-use leases


# --------------------------------------------------------------------------- partials


@dataclass
class Partial:
    """A partial download owned (flock'ed) by this process."""

    path: Path
    sidecar_path: Path
    fd: int
    sidecar: dict[str, Any]

    def save(self, **changes: Any) -> None:
        self.sidecar.update(changes)
        atomic_write(self.sidecar_path, json.dumps(self.sidecar).encode(), fsync=False)

    def reset(self) -> None:
        """Discards downloaded bytes and the binding (a clean restart)."""
        os.ftruncate(self.fd, 0)
        self.sidecar = {"url": self.sidecar.get("url")}
        self.save()

    def discard(self) -> None:
        for p in (self.path, self.sidecar_path):
            with contextlib.suppress(OSError):
                p.unlink()
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _chmod_nofollow(path: str, mode: int, kind: Any) -> int:
    """Sets ``mode`` on a staged file or folder through a no-follow
    descriptor (``os.chmod`` would follow a link out of the cache) and
    returns the descriptor; anything but ``kind`` (a link, a FIFO) is
    refused: fetchers stage only regular files and folders."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not kind(os.fstat(fd).st_mode):
            raise CacheError(f"{path}: staged item is not a regular file or folder")
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    if kind is stat.S_ISDIR:
        os.close(fd)
        return -1
    return fd


_MAX_CHUNKS = 1 << 20


def sidecar_ok(sc: dict[str, Any]) -> bool:
    """Whether a partial download's sidecar has the types the download
    engine writes (``url``; once bound: ``size``, ``chunk``, ``done``, the
    validators): anything else is a clean restart, never an exception in
    the middle of a resume."""
    if not isinstance(sc.get("url"), str):
        return False
    for k in ("etag", "version_id", "last_modified"):
        if sc.get(k) is not None and not isinstance(sc[k], str):
            return False
    if not any(k in sc for k in ("size", "chunk", "done")):
        return True
    size, chunk, done = sc.get("size"), sc.get("chunk"), sc.get("done")
    if type(size) is not int or not 0 <= size < 1 << 50:
        return False
    if type(chunk) is not int or not 0 < chunk < 1 << 40 or size // chunk > _MAX_CHUNKS:
        return False
    return isinstance(done, list) and all(type(i) is int for i in done)


# --------------------------------------------------------------------------- store


class Store:
    """The cache at ``root``.  Creating a Store touches nothing; the layout is
    made on first write (:meth:`ensure_layout`)."""

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.fsync = fsync
        self.entries_dir = self.root / "entries"
        self.downloads_dir = self.root / "downloads"
        self.locks_dir = self.root / "locks"
        self.tmp_dir = self.root / "tmp"
        self.trash_dir = self.root / "trash"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        if settings is None:
            from modelhub.config import load_settings

            settings = load_settings()
        return cls(settings.cache_dir, fsync=settings.fsync)

    # ---- layout
    def has_marker(self) -> bool:
        return (self.root / MARKER_NAME).is_file()

    def foreign_item(self) -> Path | None:
        """For a root without the marker: something in it modelhub did not
        make (the root is then not a cache), or None when it is empty or holds
        only what exists before the marker: the catalog index, lock files,
        empty layout directories and the marker's own atomic-write temporary.
        Raises OSError when the root is unreadable.  A root that is a link is
        followed (the user named it); links inside are not."""
        return foreign_cache_item(self.root)

    def ensure_layout(self) -> None:
        try:
            if self.root.exists() and not self.has_marker():
                if not self.root.is_dir():
                    raise CacheError(f"cache path {self.root} exists and is not a directory")
                foreign = self.foreign_item()
                # A concurrent first pull may have written the marker meanwhile.
                if foreign is not None and not self.has_marker():
                    raise not_a_cache(self.root, foreign)
            if not self.root.is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    os.chmod(self.root, SHARED_DIR_MODE)
            # The marker goes first: a concurrent first pull that looks in
            # while the layout is being made then sees a cache, not a folder
            # of unknown files.
            if not self.has_marker():
                marker = {"format": CACHE_FORMAT, "created": time.time(), "tool": "modelhub"}
                atomic_write(self.root / MARKER_NAME, json.dumps(marker).encode(), fsync=False)
            for d in (
                self.entries_dir,
                self.downloads_dir,
                self.locks_dir,
                self.tmp_dir,
                self.trash_dir,
            ):
                if not d.is_dir():
                    d.mkdir(parents=True, exist_ok=True)
                    with contextlib.suppress(OSError):
                        os.chmod(d, SHARED_DIR_MODE)
            tag = self.root / "CACHEDIR.TAG"
            if not tag.is_file():
                atomic_write(tag, CACHEDIR_TAG.encode(), fsync=False)
        except PermissionError as exc:
            raise permission_error(exc, self.root) from exc
        except OSError as exc:
            raise CacheError(f"cannot create the cache at {self.root}: {exc}") from exc

    def entry_dir(self, key: str) -> Path:
        return self.entries_dir / entry_id(key)

    # ---- reading
    def _read_entry(self, d: Path, key: str | None = None) -> Entry | None:
        try:
            manifest = load_manifest(d)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # Damaged (or planted): the entry counts as absent, so pull
            # fetches it again into a new content directory; nothing the
            # manifest names is read, written or fetched.
            log.warning("ignoring the damaged manifest in %s: %s", d, exc)
            return None
        if key is not None and manifest.key != key:
            return None
        return Entry(key=manifest.key, dir=d, manifest=manifest)

    def lookup(self, key: str) -> Entry | None:
        """The complete entry for ``key`` or None (no manifest: no entry)."""
        return self._read_entry(self.entry_dir(key), key)

    def entries(self) -> Iterator[Entry]:
        """Every complete entry (directories without a manifest are skipped)."""
        try:
            dirs = sorted(self.entries_dir.iterdir())
        except OSError:
            return
        for d in dirs:
            if d.is_dir() and not d.is_symlink():
                e = self._read_entry(d)
                if e is not None:
                    yield e

    def incomplete(self) -> dict[str, list[Path]]:
        """What is not a complete entry: entry dirs without manifest, stale
        content dirs, partial downloads, staging dirs and trash."""
        out: dict[str, list[Path]] = {"no_manifest": [], "stale_content": [], "partials": []}
        out["tmp"] = sorted(self.tmp_dir.glob("*")) if self.tmp_dir.is_dir() else []
        out["trash"] = sorted(self.trash_dir.glob("*")) if self.trash_dir.is_dir() else []
        if self.downloads_dir.is_dir():
            out["partials"] = sorted(self.downloads_dir.glob("*/*.part"))
        if self.entries_dir.is_dir():
            for d in sorted(self.entries_dir.iterdir()):
                e = self._read_entry(d)
                if e is None:
                    out["no_manifest"].append(d)
                    continue
                for c in d.glob("c-*"):
                    if c.name != e.manifest.content:
                        out["stale_content"].append(c)
        return out

    # ---- use records
    def record_use(self, entry: Entry, *, now: float | None = None) -> None:
        """Updates the entry's last-used record, at most once per hour."""
        now = time.time() if now is None else now
        last = entry.last_used
        if last is not None and now - last < LAST_USED_INTERVAL:
            return
        with contextlib.suppress(OSError):
            atomic_write(entry.dir / LAST_USED_NAME, json.dumps({"t": now}).encode(), fsync=False)

    def set_pinned(self, key: str, pinned: bool = True) -> bool:
        """Pins or unpins a complete entry; False when there is no entry."""
        entry = self.lookup(key)
        if entry is None:
            return False
        marker = entry.dir / PINNED_NAME
        try:
            if pinned:
                atomic_write(marker, b"pinned\n", fsync=False)
            else:
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()
        except PermissionError as exc:
            raise permission_error(exc, entry.dir) from exc
        return True

    # ---- in-use leases
    def use_lock_path(self, key: str) -> Path:
        return self.locks_dir / f"{entry_id(key)}.use"

    def lease(self, key: str) -> EntryLease | None:
        """A shared lease on ``key``'s entry (blocks only while a remover holds
        it exclusively, which lasts one rename).  None when the cache has no
        lock directory we can open (a read-only cache nobody can prune)."""
        if not self.locks_dir.is_dir():
            self.ensure_layout()
        path = self.use_lock_path(key)
        fd = _open_use_file(path)
        if fd is None:
            log.debug("cannot open %s: using the entry without a lease", path)
            return None
        fcntl.flock(fd, fcntl.LOCK_SH)
        return EntryLease(path, fd, exclusive=False)

    def try_exclusive(self, key: str) -> EntryLease | None:
        """An exclusive lease on ``key``'s entry if nobody uses it, else None
        (never waits)."""
        if not self.locks_dir.is_dir():
            self.ensure_layout()
        path = self.use_lock_path(key)
        fd = _open_use_file(path)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return EntryLease(path, fd, exclusive=True)

    def in_use(self, key: str) -> bool:
        """True when some process holds a lease on the entry right now."""
        ex = self.try_exclusive(key)
        if ex is None:
            return True
        ex.release()
        return False

    # ---- locks and partials
    def lock(self, key: str, *, stale_after: float = DEFAULT_STALE_AFTER) -> ArtifactLock:
        self.ensure_layout()
        eid = entry_id(key)
        return ArtifactLock(
            self.locks_dir / f"{eid}.lock", self.locks_dir / f"{eid}.json", stale_after=stale_after
        )

    def open_partial(self, key: str, url: str) -> Partial:
        """A partial download for ``url``: an orphaned one (its writer is gone,
        so its flock is free) when there is one, else a new unique file."""
        self.ensure_layout()
        d = self.downloads_dir / entry_id(key)
        try:
            return self._open_partial(d, url)
        except PermissionError as exc:
            raise permission_error(exc, self.downloads_dir) from exc

    def _open_partial(self, d: Path, url: str) -> Partial:
        _shared_mkdir(d)
        for sidecar_path in sorted(d.glob("*.json")):
            try:
                sidecar = read_json(sidecar_path, limit=1 << 20)
            except (OSError, ValueError):
                continue
            if sidecar.get("url") != url:
                continue
            part = sidecar_path.with_suffix(".part")
            try:
                fd = os.open(part, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                # its writer died before making the part (see below): nothing to resume
                with contextlib.suppress(OSError):
                    sidecar_path.unlink()
                continue
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(f"{part} is not a regular file")
            except OSError:
                os.close(fd)  # a live process is writing it (or not a partial)
                continue
            found = Partial(part, sidecar_path, fd, sidecar)
            if not sidecar_ok(sidecar):
                # Not what a download wrote: its bytes cannot be trusted to
                # resume from, so the download starts over in the same file.
                log.warning("%s: the partial download's record is damaged; starting over", part)
                found.reset()
            return found
        token = secrets.token_hex(8)
        part = d / f"{token}.part"
        # The sidecar goes first: a process killed in between leaves a sidecar
        # the next pull removes, never a part that no later pull can resume.
        atomic_write(d / f"{token}.json", json.dumps({"url": url}).encode(), fsync=False)
        fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # group-readable whatever the umask, like every file
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return Partial(part, d / f"{token}.json", fd, {"url": url})

    def staging_dir(self, key: str) -> Path:
        """A new, unique, empty directory under tmp/ (renamed into place by install)."""
        self.ensure_layout()
        d = self.tmp_dir / f"{entry_id(key)}.{secrets.token_hex(6)}"
        try:
            d.mkdir(mode=DIR_MODE)
        except PermissionError as exc:
            raise permission_error(exc, self.tmp_dir) from exc
        return d

    # ---- writing
    def install(self, key: str, staged: Path, manifest: Manifest) -> Entry:
        """Moves the staged content directory into the entry and writes the
        manifest last (atomic replace).  ``manifest.files`` may carry
        mtime_ns=0: stamps are taken here."""
        self.ensure_layout()
        d = self.entry_dir(key)
        try:
            # Group-writable: other members pin it and record its use.
            _shared_mkdir(d)
        except PermissionError as exc:
            raise permission_error(exc, self.entries_dir) from exc
        old = self.lookup(key)
        content = f"c-{secrets.token_hex(6)}"
        files: list[FileRecord] = []
        try:
            for root, dirs, names in os.walk(staged):
                for n in dirs:
                    _chmod_nofollow(os.path.join(root, n), DIR_MODE, stat.S_ISDIR)
                for n in names:
                    fd = _chmod_nofollow(os.path.join(root, n), FILE_MODE, stat.S_ISREG)
                    try:
                        if self.fsync:
                            os.fsync(fd)
                    finally:
                        os.close(fd)
            os.chmod(staged, DIR_MODE)
            target = d / content
            os.rename(staged, target)
            for f in manifest.files:
                st = os.stat(target / f.path, follow_symlinks=False)
                if st.st_size != f.size:
                    raise CacheError(f"{target / f.path}: size changed while installing")
                files.append(FileRecord(f.path, f.size, f.sha256, st.st_mtime_ns))
            final = Manifest(
                key=key,
                content=content,
                files=tuple(files),
                kind=manifest.kind,
                source=manifest.source,
                download=manifest.download,
                commit=manifest.commit,
                artifact=manifest.artifact,
                created=time.time(),
            )
            atomic_write(
                d / MANIFEST_NAME,
                json.dumps(final.to_dict(), indent=1).encode(),
                fsync=self.fsync,
            )
        except OSError as exc:
            with contextlib.suppress(OSError):
                shutil.rmtree(d / content, ignore_errors=True)
                shutil.rmtree(staged, ignore_errors=True)
            if is_disk_full(exc):
                raise CacheError(f"disk full while installing {key} into {self.root}") from exc
            if isinstance(exc, PermissionError):
                raise permission_error(exc, d) from exc
            raise CacheError(f"cannot install {key} into {d}: {exc}") from exc
        if old is not None and old.manifest.content != content:
            # Someone may still read the old files: leave them (a stale
            # content directory) for prune, which removes them once unused.
            ex = self.try_exclusive(key)
            if ex is None:
                log.info("%s is in use: its old files stay until `modelhub cache prune`", key)
            else:
                with ex:
                    self._trash(d / old.manifest.content)
        return Entry(key=key, dir=d, manifest=final)

    def remove(self, key: str) -> bool:
        """Removes an entry: renamed into trash/ first (readers never see half
        an entry), then deleted.  False when there was nothing.  Does not
        check leases: maintenance takes :meth:`try_exclusive` first."""
        dest = self.detach(key)
        if dest is None:
            return False
        delete_path(dest)
        return True

    def detach(self, key: str) -> Path | None:
        """Renames the entry into trash/ and returns where it went (the caller
        deletes it, e.g. after releasing its exclusive lease so that readers
        waiting for the entry do not wait for the deletion); None when there
        was nothing."""
        d = self.entry_dir(key)
        if not os.path.lexists(d):
            return None
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        dest = self.trash_dir / f"{d.name}.{secrets.token_hex(6)}"
        try:
            os.rename(d, dest)
        except FileNotFoundError:
            return None
        return dest

    def discard(self, path: Path) -> None:
        """Removes anything under the cache root the way entries go: renamed
        into trash/ (never following a link), then deleted."""
        path = Path(path)
        if self.root.resolve() not in path.parent.resolve().parents and (
            path.parent.resolve() != self.root.resolve()
        ):
            raise CacheError(f"refusing to delete {path}: it is outside the cache {self.root}")
        self._trash(path)

    def _trash(self, path: Path) -> None:
        """Renames ``path`` (never following it if it is a link) into trash/,
        then deletes it there."""
        self.trash_dir.mkdir(parents=True, exist_ok=True)
        dest = self.trash_dir / f"{path.name}.{secrets.token_hex(6)}"
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            return
        delete_path(dest)
