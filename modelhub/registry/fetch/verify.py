"""Checks on fetched bytes: digests computed while streaming and the
comparisons against what the source and the catalog promise.

:class:`OrderedHasher` is fed by the download workers in any order and
hashes in file order on its own thread: buffers handed over by the workers
are hashed straight from memory (hashlib releases the GIL on them) and
handed back through their ``release`` callback.  Two limits keep memory
bounded without ever reading bytes twice in the common case: a feeder whose
buffer continues the run the hasher is working through waits while that
run is longer than ``backlog_cap`` (the hasher is the bottleneck: the
download slows down to its pace); only when too many out-of-order bytes are
waiting (a slow range ahead of fast ones) are later pieces released at once
and read back with ``os.pread`` when their turn comes.  Resumed downloads
read their already-present prefix back once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from modelhub.errors import IntegrityError
from modelhub.registry.files import Digests

log = logging.getLogger(__name__)

_BLOCK = 1 << 20
Buffer = bytes | bytearray | memoryview
Release = Callable[[], None] | None
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_MULTIPART = re.compile(r"^([0-9a-f]{32})-(\d+)$")


def git_blob_sha1(data_size: int) -> hashlib._Hash:
    """A sha1 primed with git's blob header (Hugging Face non-LFS file ids)."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(f"blob {data_size}\0".encode())
    return h


def normalize_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    e = etag.strip()
    if e.startswith("W/"):
        e = e[2:]
    return e.strip('"')


def etag_kind(etag: str | None) -> tuple[str, int]:
    """("md5", 1) for a single-part S3 ETag, ("multipart", N) for ``<hex>-N``,
    ("opaque", 0) otherwise."""
    e = normalize_etag(etag)
    if e is None:
        return ("opaque", 0)
    e = e.lower()
    if _HEX32.match(e):
        return ("md5", 1)
    m = _MULTIPART.match(e)
    if m:
        return ("multipart", int(m.group(2)))
    return ("opaque", 0)


@dataclass
class OrderedHasher:
    """Hashes a file's bytes in order while workers write them out of order."""

    fd: int
    start: int = 0
    md5: bool = False
    part_size: int | None = None
    memory_cap: int = 256 << 20  # out-of-order bytes kept in memory
    backlog_cap: int = 32 << 20  # in-order bytes waiting for the hasher
    _pending: dict[int, tuple[Buffer, Release] | int] = field(default_factory=dict)
    _ooo_bytes: int = 0  # in memory, not yet joined to the run from _next
    _next: int = 0  # the hasher's position
    _frontier: int = 0  # end of the contiguous run of pending bytes from _next
    _done: bool = False
    _error: BaseException | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if self.md5 else None
        self._parts: list[bytes] = []
        self._part = hashlib.md5(usedforsecurity=False) if self.part_size else None
        self._part_left = self.part_size or 0
        self._next = self._frontier = self.start
        self._thread = threading.Thread(target=self._run, name="modelhub-hasher", daemon=True)
        self._thread.start()

    # called by workers -------------------------------------------------
    def feed(self, offset: int, data: Buffer, release: Release = None) -> None:
        """``data`` (already written at ``offset``) is hashed in turn;
        ``release()`` is called once the hasher no longer needs it."""
        keep = True
        with self._cond:
            if offset == self._frontier:
                while self._frontier - self._next > self.backlog_cap and not self._done:
                    self._cond.wait()
                self._pending[offset] = (data, release)
                self._extend(offset + len(data))
            elif self._ooo_bytes + len(data) > self.memory_cap:
                self._pending[offset] = len(data)  # read back from the file later
                keep = False
            else:
                self._pending[offset] = (data, release)
                self._ooo_bytes += len(data)
            self._cond.notify_all()
        if not keep and release is not None:
            release()

    def feed_from_disk(self, offset: int, length: int) -> None:
        if length > 0:
            with self._cond:
                self._pending[offset] = length
                if offset == self._frontier:
                    self._extend(offset + length)
                self._cond.notify_all()

    def _extend(self, end: int) -> None:
        """Moves the frontier to ``end`` and over pending pieces that now join
        the run (their bytes stop counting as out of order).  Holds _cond."""
        self._frontier = end
        while True:
            item = self._pending.get(self._frontier)
            if item is None:
                return
            if isinstance(item, tuple):
                self._ooo_bytes -= len(item[0])
                self._frontier += len(item[0])
            else:
                self._frontier += item

    def finish(self, total: int) -> Digests:
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._thread.join()
        self._release_pending()
        if self._error is not None:
            raise self._error
        if self._next != total:
            raise IntegrityError(f"hashed {self._next} bytes of {total}")
        multipart = None
        if self._part is not None:
            if self._part_left != self.part_size:
                self._parts.append(self._part.digest())
            combined = hashlib.md5(b"".join(self._parts), usedforsecurity=False).hexdigest()
            multipart = f"{combined}-{len(self._parts)}"
        return Digests(
            size=total,
            sha256=self._sha.hexdigest(),
            md5=self._md5.hexdigest() if self._md5 else None,
            multipart_etag=multipart,
        )

    def abort(self) -> None:
        with self._cond:
            self._done = True
            self._error = self._error or RuntimeError("aborted")
            self._cond.notify_all()
        self._thread.join()
        self._release_pending()

    def _release_pending(self) -> None:
        with self._cond:
            items = list(self._pending.values())
            self._pending.clear()
            self._ooo_bytes = 0
        for item in items:
            if isinstance(item, tuple) and item[1] is not None:
                item[1]()

    # hasher thread -----------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._next not in self._pending:
                        if self._done:
                            return
                        self._cond.wait()
                    item = self._pending.pop(self._next)
                off = self._next
                if isinstance(item, int):
                    self._hash_from_disk(off, item)
                    length = item
                else:
                    data, release = item
                    try:
                        self._update(data)
                    finally:
                        if release is not None:
                            release()
                    length = len(data)
                with self._cond:
                    self._next = off + length
                    self._cond.notify_all()
        except BaseException as exc:  # surfaced by finish()
            with self._cond:
                self._error = exc
                self._done = True  # feeders stop waiting
                self._cond.notify_all()

    def _hash_from_disk(self, off: int, length: int) -> None:
        end = off + length
        while off < end:
            data = os.pread(self.fd, min(4 << 20, end - off), off)
            if not data:
                raise OSError(f"short read at {off}")
            self._update(data)
            off += len(data)

    def _update(self, data: Buffer) -> None:
        self._sha.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        if self._part is not None:
            view = memoryview(data)
            while view:
                n = min(self._part_left, len(view))
                self._part.update(view[:n])
                self._part_left -= n
                view = view[n:]
                if self._part_left == 0:
                    self._parts.append(self._part.digest())
                    self._part = hashlib.md5(usedforsecurity=False)
                    self._part_left = self.part_size or 0


@dataclass(frozen=True)
class Expectations:
    """What the bytes must match; each field optional."""

    size: int | None = None
    sha256: str | None = None  # hex
    md5: str | None = None  # hex (catalog checksum or single-part S3 ETag)
    sha256_b64: str | None = None  # x-amz-checksum-sha256
    multipart_etag: str | None = None  # "<hex>-N" with part size known
    md5_from: str = "checksum"
    sha256_from: str = "pinned sha256"


def check(artifact: str, got: Digests, exp: Expectations) -> list[str]:
    """Raises IntegrityError on the first mismatch; returns what was checked."""
    checked: list[str] = []

    def fail(what: str, expected: str, actual: str) -> None:
        raise IntegrityError(
            f"{artifact}: {what} mismatch: expected {expected}, got {actual}; "
            "the downloaded bytes were deleted",
            artifact=artifact,
            expected=expected,
            actual=actual,
        )

    if exp.size is not None:
        if got.size != exp.size:
            fail("size", str(exp.size), str(got.size))
        checked.append("size")
    if exp.sha256:
        if got.sha256 != exp.sha256.lower():
            fail(f"sha256 ({exp.sha256_from})", exp.sha256.lower(), got.sha256)
        checked.append("sha256")
    if exp.sha256_b64:
        actual = base64.b64encode(bytes.fromhex(got.sha256)).decode()
        if actual != exp.sha256_b64:
            fail("x-amz-checksum-sha256", exp.sha256_b64, actual)
        checked.append("x-amz-checksum-sha256")
    if exp.md5 and got.md5 is not None:
        if got.md5 != exp.md5.lower():
            fail(f"MD5 ({exp.md5_from})", exp.md5.lower(), got.md5)
        checked.append(f"md5 ({exp.md5_from})")
    if exp.multipart_etag and got.multipart_etag is not None:
        _, parts = etag_kind(exp.multipart_etag)
        _, ours = etag_kind(got.multipart_etag)
        if ours != parts:
            # The part size came from part 1; parts of other sizes give
            # another layout, and another ETag for the same bytes.
            log.info(
                "%s: multipart ETag not checked: the first part's size gives %d parts, "
                "the ETag %s has %d (the parts are not all that size)",
                artifact,
                ours,
                exp.multipart_etag,
                parts,
            )
        elif got.multipart_etag != exp.multipart_etag.lower():
            fail("multipart ETag", exp.multipart_etag.lower(), got.multipart_etag)
        else:
            checked.append("multipart-etag")
    return checked
