"""The download engine's disk side: reusable page-aligned receive blocks,
writer threads putting bytes at their offsets (``O_DIRECT`` where the file
system takes it, else the page cache with periodic ``fdatasync``), handing
them to the in-order hasher, and per-chunk write tracking."""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from modelhub.registry.fetch.transport import (
    DownloadOptions,
    MiB,
    Response,
)
from modelhub.registry.fetch.verify import Buffer, OrderedHasher
from modelhub.registry.files import write_all
from modelhub.registry.store.layout import is_disk_full

log = logging.getLogger(__name__)

ALIGN = 4096  # O_DIRECT offsets, lengths and buffers: a multiple of the logical block size


FLUSH_EVERY = 64 * MiB  # page-cache bytes between fdatasync calls during a download


WRITE_QUEUE = 32  # received blocks waiting for the disk, at most


WRITER_THREADS = 2  # threads writing received blocks to the partial file


class Progress:
    def __init__(self, opts: DownloadOptions, total: int | None, done: int) -> None:
        self.opts = opts
        self.total = total
        self.done = done
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            done = self.done
        if self.opts.progress is not None:
            self.opts.progress(done, self.total)
        if self.opts.heartbeat is not None:
            self.opts.heartbeat(done)


class Blocks:
    """Reusable page-aligned receive blocks (anonymous mmaps, as ``O_DIRECT``
    needs), taken by the workers and handed back by the hasher once hashed:
    no allocation, page faults or garbage per block."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[memoryview] = []
        self._lock = threading.Lock()

    def take(self) -> memoryview:
        with self._lock:
            if self._free:
                return self._free.pop()
        # MAP_POPULATE: the pages are faulted in by one call, not one by one
        # on first receive.
        flags = mmap.MAP_PRIVATE | getattr(mmap, "MAP_ANONYMOUS", 0x20)
        return memoryview(mmap.mmap(-1, self.size, flags | getattr(mmap, "MAP_POPULATE", 0)))

    def give(self, block: memoryview) -> None:
        with self._lock:
            self._free.append(block)


class ChunkWrites:
    """Counts one chunk's queued writes; ``seal(then)`` runs ``then`` once
    all of them are on disk, and never after a failed one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left = 0
        self._failed = False
        self._then: Callable[[], None] | None = None

    def add(self) -> None:
        with self._lock:
            self._left += 1

    def written(self, ok: bool) -> None:
        with self._lock:
            self._left -= 1
            self._failed = self._failed or not ok
            run = self._then if self._left == 0 and not self._failed else None
            if run is not None:
                self._then = None
        if run is not None:
            run()

    def seal(self, then: Callable[[], None]) -> None:
        with self._lock:
            if self._failed:
                return
            if self._left:
                self._then = then
                return
        then()


class Writer:
    """Puts received bytes at their offsets in the partial file from
    ``threads`` writer threads, so that receiving goes on while the disk
    writes (a bounded queue holds the blocks in between), then hands them
    to the hasher.

    Aligned blocks go through a second descriptor opened with ``O_DIRECT``
    when the file system takes it: the device receives them straight from
    the block (no copy into the page cache), so the fsync that makes the
    entry durable before its manifest is written has almost nothing left to
    flush.  Everything else goes through the page cache, with an
    ``fdatasync`` every :data:`FLUSH_EVERY` bytes so those writes reach the
    disk during the download rather than in that fsync.  Durability itself
    stays with the install's fsync.

    A write error (disk full) stops the writing; later blocks are only
    handed back, and the error is raised to the workers and by
    :meth:`close`."""

    def __init__(
        self,
        fd: int,
        path: Any,
        hasher: OrderedHasher,
        *,
        direct: bool,
        threads: int = WRITER_THREADS,
        flush_every: int = FLUSH_EVERY,
    ) -> None:
        self.fd = fd
        self._flush_every = flush_every
        self.hasher = hasher
        self.dfd: int | None = None
        self.direct = False
        flag = getattr(os, "O_DIRECT", 0)
        if direct and flag:
            try:
                self.dfd = os.open(path, os.O_WRONLY | flag)
                self.direct = True
            except OSError as exc:  # tmpfs, some FUSE/network file systems
                log.debug("no O_DIRECT for %s: %s", path, exc)
        self.error: BaseException | None = None
        self._nthreads = max(1, threads)
        self._dirty = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._threads: list[threading.Thread] = []

    def put(
        self,
        data: Buffer,
        pos: int,
        release: Callable[[], None] | None,
        track: ChunkWrites | None = None,
    ) -> None:
        """Queues ``data`` for offset ``pos``; ``release`` hands the block back
        once written and hashed.  Raises the writer's error, if any."""
        if self.error is not None:
            if release is not None:
                release()
            raise self.error
        if not self._threads:
            for i in range(self._nthreads):
                t = threading.Thread(target=self._run, name=f"modelhub-write-{i}", daemon=True)
                self._threads.append(t)
                t.start()
        if track is not None:
            track.add()
        self._queue.put((pos, data, release, track))

    def close(self) -> None:
        """Writes what is queued, stops the threads; raises a write error."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
        self._threads = []
        if self.dfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.dfd)
            self.dfd = None
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            pos, data, release, track = item
            ok = self.error is None
            if ok:
                try:
                    self._write(data, pos, aligned=release is not None)
                except BaseException as exc:
                    self.error = self.error or exc
                    ok = False
            if ok:
                self.hasher.feed(pos, data, release)
            elif release is not None:
                release()
            if track is not None:
                with contextlib.suppress(Exception):
                    track.written(ok)

    def _write(self, data: Buffer, pos: int, *, aligned: bool) -> None:
        n = len(data)
        if aligned and self.direct and pos % ALIGN == 0 and n % ALIGN == 0:
            assert self.dfd is not None
            try:
                k = os.pwrite(self.dfd, data, pos)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                log.debug("O_DIRECT write refused (%s); using the page cache", exc)
                self.direct = False
            else:
                if k < n:  # a short direct write: the rest through the page cache
                    self._buffered(memoryview(data)[k:], pos + k)
                return
        self._buffered(data, pos)

    def _buffered(self, data: Buffer, pos: int) -> None:
        write_all(self.fd, data, pos)
        with self._lock:
            self._dirty += len(data)
            flush = 0 < self._flush_every <= self._dirty
            if flush:
                self._dirty = 0
        if flush:
            with contextlib.suppress(OSError):
                os.fdatasync(self.fd)


def pump(
    resp: Response,
    pos: int,
    want: int,
    writer: Writer,
    blocks: Blocks,
    track: ChunkWrites | None = None,
) -> int:
    """Receives up to ``want`` bytes of ``resp`` for offset ``pos`` and queues
    them for writing and hashing; returns the count (0: the body ended)."""
    if resp.readinto is None:
        data = resp.read(want)
        if data:
            writer.put(data, pos, None, track)
        return len(data)
    block = blocks.take()
    try:
        got = resp.readinto(block[:want])
    except BaseException:
        blocks.give(block)
        raise
    if not got:
        blocks.give(block)
        return 0
    writer.put(block[:got], pos, lambda: blocks.give(block), track)
    return got


def preallocate(fd: int, size: int) -> None:
    if size <= 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if is_disk_full(exc):
            raise
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        os.ftruncate(fd, size)
