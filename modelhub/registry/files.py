"""File primitives shared by the registry: the modes files and directories
are created with (group-readable, for shared caches) and the one atomic
write (a unique temporary name beside the target, then ``rename``)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
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


def sha256_file(path: Path | str, block: int = 4 << 20) -> tuple[str, int]:
    """(hex digest, size) of a file, read once."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(block)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
    return h.hexdigest(), size
