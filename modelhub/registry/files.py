"""File primitives shared by the registry: the modes files and directories
are created with (group-readable, for shared caches), the one atomic write
(a unique temporary name beside the target, then ``rename``), the one
way to hash a file (SHA-256, optionally MD5, in one streaming read that can
also copy the bytes) and what makes a folder a cache root.  Small files
modelhub wrote itself are read through :mod:`modelhub.saferead`."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import mmap
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


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


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_TMP_HEX = 12  # hex digits in an atomic write's temporary name


def atomic_write_temp_of(name: str) -> str | None:
    """The file name whose :func:`atomic_write` left the temporary ``name``
    (``.<target>.<12 hex>.tmp``), or None when ``name`` is not one."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    target, _, token = name[1:-4].rpartition(".")
    if not target or len(token) != _TMP_HEX or token.strip("0123456789abcdef"):
        return None
    return target


def atomic_write(
    path: Path, data: bytes | list[bytes], *, fsync: bool = True, mode: int = FILE_MODE
) -> None:
    """Write ``data`` (bytes, or a list of pieces written in order) to a
    unique temporary name beside ``path``, then rename: readers see the old
    file or the new one, never part of one."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(_TMP_HEX // 2)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            pos = 0
            for piece in [data] if isinstance(data, bytes | bytearray) else data:
                write_all(fd, piece, pos)
                pos += len(piece)
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


@dataclass
class Digests:
    size: int
    sha256: str
    md5: str | None = None
    multipart_etag: str | None = None  # computed "<hex>-N" when a part size was given


_MMAP_FROM = 1 << 20
_BLOCK = 4 << 20


def write_all(fd: int, data: bytes | memoryview, pos: int) -> None:
    """``pwrite`` until all of ``data`` is at ``pos`` (a write may be short)."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    while view:
        n = os.pwrite(fd, view, pos)
        if n <= 0:
            raise OSError(errno.EIO, f"pwrite wrote nothing at offset {pos}")
        view = view[n:]
        pos += n


def hash_file(
    path: Path | str,
    *,
    md5: bool = False,
    sink: Callable[[memoryview, int], object] | None = None,
    progress: Callable[[int], None] | None = None,
    nofollow: bool = False,
) -> Digests:
    """SHA-256 (and MD5 when asked) and size of a file, in one read.

    ``sink(block, offset)`` receives every block as it is hashed (a copy in
    the same pass); ``progress(n)`` the size of each.  ``nofollow`` refuses a
    link and anything but a regular file (OSError).  With neither sink nor
    progress, a large file is hashed from one ``mmap`` (one call, the GIL
    released throughout)."""
    # nofollow: also O_NONBLOCK, so a FIFO planted in the cache is refused at
    # once (fstat below) instead of blocking the open.
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_NOFOLLOW | os.O_NONBLOCK if nofollow else 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if nofollow and not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        sha = hashlib.sha256()
        m = hashlib.md5(usedforsecurity=False) if md5 else None
        if sink is None and progress is None and m is None and st.st_size >= _MMAP_FROM:
            with mmap.mmap(fd, st.st_size, access=mmap.ACCESS_READ) as mm:
                with contextlib.suppress(AttributeError, OSError):
                    mm.madvise(mmap.MADV_SEQUENTIAL)
                sha.update(mm)
            return Digests(size=st.st_size, sha256=sha.hexdigest())
        buf = bytearray(min(_BLOCK, max(st.st_size, 0) + 65536))
        view = memoryview(buf)
        size = 0
        while n := os.readv(fd, [buf]):
            block = view[:n]
            sha.update(block)
            if m is not None:
                m.update(block)
            if sink is not None:
                sink(block, size)
            size += n
            if progress is not None:
                progress(n)
        return Digests(size=size, sha256=sha.hexdigest(), md5=m.hexdigest() if m else None)
    finally:
        os.close(fd)


def copy_hashing(src: Path | str, dst: Path | str) -> Digests:
    """Copies ``src`` to ``dst`` (which must not exist), hashing the bytes in
    the same read (:func:`hash_file`)."""
    with open(dst, "xb") as fo:
        return hash_file(src, sink=lambda block, _pos: fo.write(block))


# --------------------------------------------------------------------------- cache root

CACHE_MARKER = ".modelhub-cache"


# Names modelhub itself puts at the cache root (the catalog index included):
# a root holding anything else and no marker is not ours.
CACHE_OWN_NAMES = frozenset(
    {
        "CACHEDIR.TAG",
        "catalog",
        "entries",
        "downloads",
        "locks",
        "tmp",
        "trash",
        "derived",  # derived/local/<digest>/: ONNX exports of local model directories
        CACHE_MARKER,
    }
)


# Where maintenance deletes things.  Names are not proof of ownership: a root
# without the marker is only taken as a cache while these are empty (what a
# first pull leaves if it stops before writing the marker), so a user's
# ``downloads/`` or ``tmp/`` is never adopted, nor pruned.
CACHE_DATA_DIRS = frozenset({"entries", "downloads", "tmp", "trash"})


def foreign_cache_item(root: Path) -> Path | None:
    """For a cache root without the marker: something in it modelhub did not
    make (the root is then not a cache), or None when it is empty or holds
    only what exists before the marker: the catalog index, lock files,
    empty layout directories and the marker's own atomic-write temporary.
    Raises OSError when the root is unreadable.  A root that is a link is
    followed (the user named it); links inside are not.  Shared by the store
    and the catalog (which must not write its index into a folder the store
    refuses)."""
    if not root.is_dir():
        return root
    for p in sorted(root.iterdir()):
        # The marker of a concurrent first pull in the middle of its atomic
        # write: its temporary name is there a moment before the marker is
        # (and may be gone, renamed, by the time it is looked at).
        if atomic_write_temp_of(p.name) == CACHE_MARKER and not (p.is_symlink() or p.is_dir()):
            continue
        if p.name not in CACHE_OWN_NAMES:
            return p
        if p.name in CACHE_DATA_DIRS:
            if p.is_symlink() or not p.is_dir():
                return p
            inside = next(p.iterdir(), None)
            if inside is not None:
                return inside
    return None


def refused_cache_root(root: Path) -> Path | None:
    """What makes ``root`` a folder modelhub refuses as a cache (see
    :func:`foreign_cache_item`), or None when it is a cache, empty or absent."""
    try:
        if not os.path.lexists(root) or (root / CACHE_MARKER).is_file():
            return None
        foreign = foreign_cache_item(root)
        # a concurrent first pull may have written the marker meanwhile
        return None if (root / CACHE_MARKER).is_file() else foreign
    except OSError:
        return root
