"""File primitives shared by the registry: the modes files and directories
are created with (group-readable, for shared caches), the one atomic write
(a unique temporary name beside the target, then ``rename``), the one
way to hash a file (SHA-256, optionally MD5, in one streaming read that can
also copy the bytes) and the one safe read of a small file modelhub wrote
itself (:func:`read_json`: never blocks on a FIFO, never follows a link,
size- and depth-bounded)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import mmap
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.errors import ModelhubError

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


# --------------------------------------------------------------------------- reading

SMALL_FILE_LIMIT = 16 << 20  # manifests, locks, sidecars: far below this
JSON_MAX_DEPTH = 64  # modelhub's own JSON nests 5 levels at most


class UnsafeFileError(ModelhubError, ValueError):
    """A file modelhub reads is not what it writes there: not a regular file
    (a FIFO, a device, a link), too large, too deeply nested, or not the
    expected JSON type.  Callers treat it as damage, like unparsable JSON."""

    def __init__(self, path: Path | str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = str(path)
        self.why = why


def read_small(
    path: Path | str, *, limit: int = SMALL_FILE_LIMIT, dir_fd: int | None = None
) -> bytes:
    """The bytes of a small file modelhub wrote itself, read without ever
    blocking or following a link: opened with ``O_NONBLOCK | O_NOFOLLOW`` (a
    FIFO nobody writes returns at once instead of hanging), refused unless
    ``fstat`` says regular file, and at most ``limit`` bytes.

    FileNotFoundError passes through (callers treat "absent" apart); any
    other refusal is :class:`UnsafeFileError`."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(path, "is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(path, "is not a regular file")
        if st.st_size > limit:
            raise UnsafeFileError(path, f"is {st.st_size} bytes, more than the {limit} allowed")
        chunks = []
        total = 0
        while True:
            data = os.read(fd, min(1 << 20, limit + 1 - total))
            if not data:
                break
            chunks.append(data)
            total += len(data)
            if total > limit:  # grew while we read
                raise UnsafeFileError(path, f"is more than the {limit} bytes allowed")
        return b"".join(chunks)
    finally:
        os.close(fd)


def json_depth_ok(text: str | bytes, max_depth: int = JSON_MAX_DEPTH) -> bool:
    """Whether the brackets of JSON ``text`` nest at most ``max_depth`` deep
    (a linear scan that skips strings), checked before ``json.loads``, whose
    recursion a deeply nested document would exhaust."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return True
    depth = 0
    in_str = False
    escape = False
    for b in data:
        if in_str:
            if escape:
                escape = False
            elif b == 0x5C:  # backslash
                escape = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > max_depth:
                return False
        elif b in (0x5D, 0x7D):
            depth -= 1
    return True


def parse_json(
    data: str | bytes, what: Path | str, *, max_depth: int = JSON_MAX_DEPTH, expect: type = dict
) -> Any:
    """``json.loads(data)`` for a document modelhub reads from disk or a
    remote: depth-bounded, ``NaN``/``Infinity`` and out-of-range numbers
    refused, and of type ``expect``.  Every failure is
    :class:`UnsafeFileError` naming ``what``."""
    if not json_depth_ok(data, max_depth):
        raise UnsafeFileError(what, f"nests deeper than {max_depth} levels")
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except UnsafeFileError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise UnsafeFileError(what, f"is not valid JSON ({exc})") from None
    if not isinstance(value, expect):
        raise UnsafeFileError(what, f"holds a JSON {type(value).__name__}, not {expect.__name__}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


def read_json(
    path: Path | str,
    *,
    limit: int = SMALL_FILE_LIMIT,
    max_depth: int = JSON_MAX_DEPTH,
    expect: type = dict,
) -> Any:
    """A small JSON file modelhub wrote itself (manifest, lock holder,
    sidecar, marker, use record), read the safe way (:func:`read_small`)
    and parsed the safe way (:func:`parse_json`).  FileNotFoundError when
    absent; :class:`UnsafeFileError` for anything else that is wrong."""
    return parse_json(read_small(path, limit=limit), path, max_depth=max_depth, expect=expect)


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
