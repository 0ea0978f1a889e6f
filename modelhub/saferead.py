"""The one safe read of a small file modelhub wrote itself (a manifest, a
lock holder, a sidecar, a digest memo): never blocks on a FIFO, never
follows a link, refuses anything but a regular file, and is bounded in size
and, for JSON, in depth, without recursion.  Shared by the registry and by
the derived folders of the loaders, so it depends on nothing of either."""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from modelhub.errors import ModelhubError

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
