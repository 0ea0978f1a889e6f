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
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.errors import CacheError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MARKER_NAME = ".modelhub-cache"
MANIFEST_NAME = "manifest.json"
PINNED_NAME = "pinned"
LAST_USED_NAME = "last-used"
LAST_USED_INTERVAL = 3600.0  # seconds between last-used rewrites
DEFAULT_STALE_AFTER = 120.0  # seconds without progress before a lock is taken over

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by modelhub.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)

# Names modelhub itself puts at the cache root (the catalog index included):
# a root holding anything else and no marker is not ours.
_OWN_NAMES = frozenset(
    {
        "CACHEDIR.TAG",
        "catalog",
        "entries",
        "downloads",
        "locks",
        "tmp",
        "trash",
        "derived",  # derived/local/<digest>/: ONNX exports of local model directories
        MARKER_NAME,
    }
)
# Where maintenance deletes things.  Names are not proof of ownership: a root
# without the marker is only taken as a cache while these are empty (what a
# first pull leaves if it stops before writing the marker), so a user's
# ``downloads/`` or ``tmp/`` is never adopted, nor pruned.
_DATA_DIRS = frozenset({"entries", "downloads", "tmp", "trash"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()
# Files are always readable by the group (shared caches), whatever the umask.
FILE_MODE = (0o644 & ~_UMASK) | 0o040
DIR_MODE = (0o755 & ~_UMASK) | 0o050
SHARED_DIR_MODE = (0o775 & ~_UMASK) | 0o070  # group members add entries and locks
LOCK_MODE = (0o664 & ~_UMASK) | 0o060


def entry_id(key: str) -> str:
    """The directory name for an artifact key: readable and collision-free."""
    slug = _UNSAFE.sub("_", key.replace("/", "--")).strip(".") or "entry"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{slug[:180]}-{digest}"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes, *, fsync: bool = True, mode: int = FILE_MODE) -> None:
    """Write ``data`` to a unique temporary name beside ``path``, then rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        _fsync_dir(path.parent)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def not_a_cache(root: Path, foreign: Path) -> CacheError:
    """The refusal for a root without the marker that holds ``foreign``."""
    what = "is not a directory" if foreign == root else f"holds {foreign}, not made by modelhub"
    return CacheError(
        f"{root} has no {MARKER_NAME} marker and {what}: it is not a modelhub cache, so "
        "modelhub refuses to use, inspect or delete anything in it; point MODELHUB_CACHE at "
        "a modelhub cache or an empty directory (if this is a modelhub cache that lost its "
        f"marker and holds nothing of yours, recreate it: touch {root / MARKER_NAME})"
    )


def permission_error(exc: PermissionError, path: Path) -> CacheError:
    """A cache directory this user may not write: in a shared cache, usually
    one made by another member of the group before its modes were shared."""
    where = exc.filename or path
    return CacheError(
        f"permission denied writing {where} in the modelhub cache: check its group "
        "permissions (you must be in the cache's group, and its owner can make the "
        f"directories group-writable: chmod -R g+rwX {path}), or set MODELHUB_CACHE to a "
        "cache of your own"
    )


# --------------------------------------------------------------------------- manifest


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
        from modelhub.registry.verify import sha256_file

        problems: list[FileProblem] = []
        for f in self.manifest.files:
            p = self.path / f.path
            try:
                if p.is_symlink() or not p.is_file():
                    problems.append(FileProblem(f.path, "missing"))
                    continue
                digest, size = sha256_file(p)
            except OSError:
                problems.append(FileProblem(f.path, "missing"))
                continue
            if size != f.size:
                problems.append(FileProblem(f.path, "size", str(f.size), str(size)))
            elif digest != f.sha256:
                problems.append(FileProblem(f.path, "sha256", f.sha256, digest))
        return problems


# --------------------------------------------------------------------------- lock


@dataclass
class ArtifactLock:
    """A per-artifact lock that only stops duplicate downloads.

    The holder records host, pid, start and last-progress time in
    ``locks/<id>.json``.  A waiter takes over (proceeds without the lock) when
    the holder is a dead process on this host or has shown no progress for
    ``stale_after`` seconds; that is safe because nothing depends on the lock.
    ``ready()`` lets a waiter stop waiting as soon as the entry is complete.
    """

    path: Path
    info_path: Path
    stale_after: float = DEFAULT_STALE_AFTER
    poll: float = 0.1
    held: bool = False
    taken_over: bool = False
    _lock: Any = None
    _last_beat: float = 0.0

    def acquire(self, ready: Callable[[], bool] | None = None) -> bool:
        """Blocks until the lock is ours, the holder is stale, or ``ready()``
        is true.  Returns True when the caller should (re)check the cache
        only, i.e. ``ready()`` said the entry is there."""
        from filelock import FileLock, Timeout

        self._lock = FileLock(str(self.path), mode=LOCK_MODE)
        waited_since = time.monotonic()
        announced = False
        while True:
            try:
                self._lock.acquire(timeout=self.poll)
            except Timeout:
                pass
            except PermissionError as exc:
                raise permission_error(exc, self.path.parent) from exc
            else:
                self.held = True
                with contextlib.suppress(OSError):
                    os.chmod(self.path, LOCK_MODE)
                self.beat(0, force=True)
                return False
            if ready is not None and ready():
                return True
            info = self.holder()
            if info is not None and self._is_stale(info):
                log.warning(
                    "taking over the download lock %s held by pid %s on %s "
                    "(no progress for %.0f s)",
                    self.path.name,
                    info.get("pid"),
                    info.get("host"),
                    time.time() - float(info.get("updated", 0)),
                )
                self.taken_over = True
                self.beat(0, force=True)
                return False
            if info is None and time.monotonic() - waited_since > self.stale_after:
                log.warning("taking over the download lock %s (holder unknown)", self.path.name)
                self.taken_over = True
                return False
            if not announced and time.monotonic() - waited_since > 1.0:
                announced = True
                log.info("waiting for another process downloading the same artifact (%s)", info)

    def _is_stale(self, info: dict[str, Any]) -> bool:
        if info.get("host") == socket.gethostname():
            pid = int(info.get("pid", 0))
            if pid == os.getpid() and not self.held:
                return False
            if pid > 0 and not _pid_alive(pid):
                return True
        return time.time() - float(info.get("updated", 0)) > self.stale_after

    def holder(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def beat(self, done: int, *, force: bool = False) -> None:
        """Records progress (at most once a second) so waiters see we are alive."""
        now = time.time()
        if not force and now - self._last_beat < 1.0:
            return
        self._last_beat = now
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": getattr(self, "_start", now),
            "updated": now,
            "bytes": done,
        }
        self._start = info["start"]  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            atomic_write(self.info_path, json.dumps(info).encode(), fsync=False, mode=LOCK_MODE)

    def release(self) -> None:
        if self.held or self.taken_over:
            info = self.holder()
            if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                with contextlib.suppress(OSError):
                    self.info_path.unlink()
        if self.held and self._lock is not None:
            self._lock.release()
        self.held = False

    def __enter__(self) -> ArtifactLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- in-use leases


class EntryLease:
    """A ``flock`` on ``locks/<id>.use`` held through an open descriptor:
    shared by every process that uses an entry, exclusive (and never waited
    for) by whoever removes one.  The kernel drops it when the descriptor is
    closed, so a crashed user never keeps an entry pinned; it is released by
    :meth:`release`, on ``with`` exit, or when the object is collected."""

    def __init__(self, path: Path, fd: int, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd = fd
        self._finalizer = weakref.finalize(self, _close_fd, fd)

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        self._finalizer()

    def __enter__(self) -> EntryLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        return f"<EntryLease {kind} {self.path.name} {'held' if self.held else 'released'}>"


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _open_use_file(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOCK_MODE)
    except OSError:
        try:  # a read-only shared cache: flock works on a read-only descriptor too
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    # The umask masked the mode: other members of the group open it too.  Only
    # the owner may chmod; anyone else's file keeps the mode its owner gave it.
    with contextlib.suppress(OSError):
        os.fchmod(fd, LOCK_MODE)
    return fd


def _shared_mkdir(d: Path) -> None:
    """Creates ``d`` (if missing) writable by the group: other members add
    partials, pins and use records there.  chmod because the umask masks mkdir."""
    try:
        d.mkdir(mode=SHARED_DIR_MODE)
    except FileExistsError:
        return
    with contextlib.suppress(OSError):
        os.chmod(d, SHARED_DIR_MODE)


def delete_path(path: Path) -> None:
    """Deletes ``path`` without ever following a symbolic link: a link is
    unlinked, a directory removed with ``rmtree`` (which does not descend
    into links), anything else unlinked."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


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
    def from_settings(cls, settings: Any = None) -> Store:
        if settings is None:
            from modelhub.config import load_settings

            settings = load_settings()
        fsync = os.environ.get("MODELHUB_FSYNC", str(settings.extra.get("fsync", "1")))
        return cls(settings.cache_dir, fsync=fsync.strip().lower() not in ("0", "false", "no"))

    # ---- layout
    def has_marker(self) -> bool:
        return (self.root / MARKER_NAME).is_file()

    def foreign_item(self) -> Path | None:
        """For a root without the marker: something in it modelhub did not
        make (the root is then not a cache), or None when it is empty or holds
        only what exists before the marker: the catalog index, lock files and
        empty layout directories.  Raises OSError when the root is unreadable.
        A root that is a link is followed (the user named it); links inside are not."""
        if not self.root.is_dir():
            return self.root
        for p in sorted(self.root.iterdir()):
            if p.name not in _OWN_NAMES:
                return p
            if p.name in _DATA_DIRS:
                if p.is_symlink() or not p.is_dir():
                    return p
                inside = next(p.iterdir(), None)
                if inside is not None:
                    return inside
        return None

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
            data = json.loads((d / MANIFEST_NAME).read_bytes())
            manifest = Manifest.from_dict(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable manifest in %s: %s", d, exc)
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
                sidecar = json.loads(sidecar_path.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(sidecar, dict) or sidecar.get("url") != url:
                continue
            part = sidecar_path.with_suffix(".part")
            try:
                fd = os.open(part, os.O_RDWR)
            except FileNotFoundError:
                # its writer died before making the part (see below): nothing to resume
                with contextlib.suppress(OSError):
                    sidecar_path.unlink()
                continue
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # a live process is writing it
                continue
            return Partial(part, sidecar_path, fd, sidecar)
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
                    os.chmod(os.path.join(root, n), DIR_MODE)
                for n in names:
                    p = os.path.join(root, n)
                    os.chmod(p, FILE_MODE)
                    if self.fsync:
                        fd = os.open(p, os.O_RDONLY)
                        try:
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
