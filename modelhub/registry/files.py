"""File primitives shared by the registry: the modes files and directories
are created with (group-readable, for shared caches), the one atomic write
(a unique temporary name beside the target, then ``rename``) and the one
way to hash a file (SHA-256, optionally MD5, in one streaming read that can
also copy the bytes)."""

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


def atomic_write(
    path: Path, data: bytes | list[bytes], *, fsync: bool = True, mode: int = FILE_MODE
) -> None:
    """Write ``data`` (bytes, or a list of pieces written in order) to a
    unique temporary name beside ``path``, then rename: readers see the old
    file or the new one, never part of one."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
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
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0)
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
