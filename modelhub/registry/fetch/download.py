"""The download engine: parallel ranged GETs into one preallocated file,
resume, retries with backoff, in-order hashing without a second read.

A :class:`Transport` (HTTP via requests, S3 via boto3) turns "bytes a..b of
this object" into a :class:`Response`; everything else lives here:

* The first request asks for the first chunk (``Range: bytes=0-…``).  A 206
  gives the total size; the rest is split into chunks fetched by up to
  ``connections`` workers, each written with ``os.pwrite`` at its offset into
  a file preallocated to the full size.  A 200 means the server ignores
  ranges: the body is read as one stream.
* Workers receive straight into reusable page-aligned blocks
  (``readinto``; no per-block allocation), write them with ``O_DIRECT`` where
  the file system allows it (no copy into the page cache and nothing left
  for the fsync before install), else through the page cache with a
  background ``fdatasync`` every few dozen MiB so that final fsync stays
  short.
* :class:`~modelhub.registry.fetch.verify.OrderedHasher` hashes the bytes in file
  order from those blocks while they arrive (its own thread; hashlib drops
  the GIL) and hands each block back once hashed.
* The connection count adapts: the download starts with
  ``start_connections`` and doubles while doubling pays (the aggregate rate
  grows by ``probe_gain``), up to ``connections``; when it does not, it goes
  back.  A per-connection limit (a throttling server, a long fat pipe) gets
  many streams; a local or CPU-bound transfer keeps few.
* The partial file's sidecar records URL, ETag/VersionId, Last-Modified,
  size and finished chunks; a later run resumes with ``Range`` + ``If-Range``
  (``IfMatch`` on S3) carrying the ETag, or the Last-Modified date when the
  server sends no strong ETag.  Every range asks with the same validator.
  With neither validator the bytes cannot be bound to the object and a
  later run starts from zero.  A 200 where a 206 was asked for, a 416, or a
  changed ETag/VersionId/Last-Modified/size discards the bytes and restarts
  cleanly.
* Connection errors, timeouts, truncated bodies, 429 (``Retry-After``) and
  5xx are retried with exponential backoff and full jitter, bounded by a
  count (consecutive failures without progress) and by total time.
* The whole download has a deadline (``deadline``; by default
  max(10 min, the size at 1 MB/s)): a watchdog cuts the open connections
  when it passes, so a server trickling bytes cannot hold a pull forever.
  A body is never written past its ceiling: its declared size, else the
  size a ``HEAD`` announces, else ``max_bytes``; a declared size over
  ``max_bytes`` is refused before a byte is written.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import logging
import mmap
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelhub.errors import CacheError, FetchError
from modelhub.registry.fetch.verify import Buffer, Digests, OrderedHasher
from modelhub.registry.store.layout import is_disk_full
from modelhub.registry.store.store import Partial

log = logging.getLogger(__name__)

MiB = 1 << 20
ALIGN = 4096  # O_DIRECT offsets, lengths and buffers: a multiple of the logical block size
FLUSH_EVERY = 64 * MiB  # page-cache bytes between fdatasync calls during a download
WRITE_QUEUE = 32  # received blocks waiting for the disk, at most
WRITER_THREADS = 2  # threads writing received blocks to the partial file


class Transient(Exception):
    """A failure worth retrying (network, timeout, 429, 5xx, short body)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RestartClean(Exception):
    """The partial bytes cannot be trusted for this object: start from zero."""


@dataclass
class Response:
    """One open response body.  ``start`` is the offset of its first byte."""

    status: int
    start: int
    length: int | None
    total: int | None
    etag: str | None
    version_id: str | None
    headers: Mapping[str, str]
    read: Callable[[int], bytes]
    close: Callable[[], None]
    # Fills the buffer unless the body ends first and returns the count (0 at
    # the end); transports that can receive into the caller's buffer set it.
    readinto: Callable[[memoryview], int] | None = None
    # Unblocks a read in progress from another thread (shuts the socket down);
    # the deadline's watchdog calls it.  Default: ``close``.
    abort: Callable[[], None] | None = None


class Transport(Protocol):
    url: str

    def get(self, start: int, end: int | None, *, validator: str | None) -> Response:
        """Bytes ``start..end`` (inclusive; ``end=None``: to the end; ``start=0,
        end=None``: a plain GET).  ``validator``: only if the object still has
        this ETag, or is unmodified since this HTTP date when it is one
        (``If-Range``; ``IfMatch``/``IfUnmodifiedSince`` on S3).  Raises
        :class:`Transient`, :class:`RestartClean` or a :class:`FetchError`
        subclass."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # consecutive failures without progress, per request
    base: float = 0.5
    cap: float = 10.0
    total: float = 300.0  # seconds for the whole download, retries included

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.total))
        return random.uniform(0, min(self.cap, self.base * (2 ** (attempt - 1))))

    @classmethod
    def from_env(cls) -> RetryPolicy:
        def num(name: str, default: float) -> float:
            try:
                return float(os.environ.get(name, default))
            except ValueError:
                return default

        return cls(
            attempts=int(num("MODELHUB_RETRIES", cls.attempts)),
            base=num("MODELHUB_RETRY_BASE", cls.base),
            total=num("MODELHUB_RETRY_TOTAL", cls.total),
        )


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


@dataclass
class DownloadOptions:
    connections: int = 8  # the most parallel ranged GETs
    chunk: int = 16 * MiB
    block: int = 1 * MiB
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    start_connections: int = 2
    probe_window: float = 0.25  # seconds of transfer behind each connection-count decision
    probe_gain: float = 1.3  # doubling the connections must raise the rate this much
    direct_io: bool = field(default_factory=lambda: _env_flag("MODELHUB_DIRECT_IO", True))
    # Flush page-cache writes during the download: only worth it when the
    # install fsyncs (MODELHUB_FSYNC=0 turns both off).
    flush_during: bool = True
    progress: Callable[[int, int | None], None] | None = None
    heartbeat: Callable[[int], None] | None = None
    # Seconds for the whole download (MODELHUB_DOWNLOAD_DEADLINE); None: scaled
    # to the size, max(DEADLINE_FLOOR, size / DEADLINE_RATE).
    deadline: float | None = None
    # The most bytes one object may have (MODELHUB_DOWNLOAD_MAX_GB): the
    # ceiling of a body whose size nothing announced.
    max_bytes: int = 64 << 30


DEADLINE_FLOOR = 600.0  # seconds: the least a download is given by default
DEADLINE_RATE = 1e6  # bytes per second the default deadline allows for (1 MB/s)
DEADLINE_SETTING = "MODELHUB_DOWNLOAD_DEADLINE / download_deadline"
MAX_BYTES_SETTING = "MODELHUB_DOWNLOAD_MAX_GB / download_max_gb"


@dataclass
class DownloadResult:
    digests: Digests
    total: int
    etag: str | None
    version_id: str | None
    headers: Mapping[str, str]
    resumed: bool
    restarts: int


class _Progress:
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


class _Blocks:
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


def shutdown_socket(stream: Any) -> None:
    """Shuts down the socket under a urllib3 response (``requests``'
    ``Response.raw``, botocore's ``StreamingBody._raw_stream``), which wakes a
    thread blocked reading it; closing alone does not."""
    for path in (("_connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj = stream
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                break
        if isinstance(obj, socket.socket):
            with contextlib.suppress(OSError):
                obj.shutdown(socket.SHUT_RDWR)
            return


class _Watchdog:
    """The whole download's deadline: when it passes, every open response is
    cut (:attr:`Response.abort`), later requests fail, and :func:`download`
    raises :meth:`error`.  Without a set deadline the limit grows with the
    size once a response announces it."""

    def __init__(self, url: str, seconds: float | None) -> None:
        self.url = url
        self.fixed = seconds
        self.t0 = time.monotonic()
        self.limit = seconds if seconds is not None else DEADLINE_FLOOR
        self.expired = False
        self._responses: dict[int, Response] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="modelhub-deadline", daemon=True)
        self._thread.start()

    def sized(self, size: int | None) -> None:
        if self.fixed is not None or not size:
            return
        with self._cond:
            self.limit = max(self.limit, size / DEADLINE_RATE)
            self._cond.notify()

    def track(self, resp: Response) -> None:
        with self._cond:
            self._responses[id(resp)] = resp
            expired = self.expired
        if expired:
            self._cut(resp)

    def untrack(self, resp: Response) -> None:
        with self._cond:
            self._responses.pop(id(resp), None)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                left = self.t0 + self.limit - time.monotonic()
                if left <= 0:
                    self.expired = True
                    live = list(self._responses.values())
                    break
                self._cond.wait(left)
            else:
                return
        log.warning("%s: past the %.0f s download deadline; cutting it", self.url, self.limit)
        for resp in live:
            self._cut(resp)

    @staticmethod
    def _cut(resp: Response) -> None:
        with contextlib.suppress(Exception):
            (resp.abort or resp.close)()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def error(self) -> FetchError:
        how = "set" if self.fixed is not None else "max(600 s, the size at 1 MB/s)"
        return FetchError(
            f"{self.url}: the download did not finish within its deadline of "
            f"{self.limit:.0f} s ({how}); {DEADLINE_SETTING} raises it for a slow link",
            url=self.url,
        )


class _Guarded:
    """A transport whose responses answer to the deadline and the size
    ceiling (see :class:`_Watchdog`)."""

    def __init__(self, inner: Transport, watch: _Watchdog, max_bytes: int) -> None:
        self.inner = inner
        self.url = inner.url
        self.watch = watch
        self.max_bytes = max_bytes
        self.too_long = False

    def get(self, start: int, end: int | None, *, validator: str | None) -> Response:
        if self.watch.expired:
            raise self.watch.error()
        resp = self.inner.get(start, end, validator=validator)
        declared = resp.total if resp.total is not None or resp.status != 200 else resp.length
        if declared is not None and declared > self.max_bytes:
            resp.close()
            raise FetchError(
                f"{self.url}: the object has {declared} bytes, over the "
                f"{self.max_bytes}-byte ceiling; {MAX_BYTES_SETTING} raises it",
                url=self.url,
            )
        self.watch.sized(declared)
        if resp.status == 200 and resp.length is None:
            resp = self._capped(resp)
        inner_close = resp.close

        def close() -> None:
            self.watch.untrack(resp)
            inner_close()

        resp.close = close
        self.watch.track(resp)
        return resp

    def _capped(self, resp: Response) -> Response:
        """A body of unknown length, cut at the size a HEAD announces (when
        the transport can ask), else at ``max_bytes``."""
        head = getattr(self.inner, "announced_size", None)
        announced = head() if callable(head) else None
        ceiling = announced if announced is not None else self.max_bytes
        self.watch.sized(announced)
        what = (
            f"the {announced} bytes its HEAD announced"
            if announced is not None
            else f"the {self.max_bytes}-byte ceiling ({MAX_BYTES_SETTING} raises it)"
        )
        got = [0]

        def count(n: int) -> int:
            got[0] += n
            if got[0] > ceiling:
                self.too_long = True
                raise FetchError(
                    f"{self.url}: the body (no Content-Length) runs past {what}; refused",
                    url=self.url,
                )
            return n

        read, readinto = resp.read, resp.readinto
        resp.read = _counted_read(read, ceiling, got, count)
        if readinto is not None:
            resp.readinto = _counted_readinto(readinto, ceiling, got, count)
        return resp


def _counted_read(
    read: Callable[[int], bytes], ceiling: int, got: list[int], count: Callable[[int], int]
) -> Callable[[int], bytes]:
    def wrapped(n: int) -> bytes:
        data = read(max(1, min(n, ceiling + 1 - got[0])))
        count(len(data))
        return data

    return wrapped


def _counted_readinto(
    readinto: Callable[[memoryview], int],
    ceiling: int,
    got: list[int],
    count: Callable[[int], int],
) -> Callable[[memoryview], int]:
    def wrapped(view: memoryview) -> int:
        return count(readinto(view[: max(1, min(len(view), ceiling + 1 - got[0]))]))

    return wrapped


def _pwrite_all(fd: int, data: bytes | memoryview, pos: int) -> None:
    view = data if isinstance(data, memoryview) else memoryview(data)
    while view:
        n = os.pwrite(fd, view, pos)
        if n <= 0:
            raise OSError(errno.EIO, f"pwrite wrote nothing at offset {pos}")
        view = view[n:]
        pos += n


class _Track:
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


class _Writer:
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
        track: _Track | None = None,
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
        _pwrite_all(self.fd, data, pos)
        with self._lock:
            self._dirty += len(data)
            flush = 0 < self._flush_every <= self._dirty
            if flush:
                self._dirty = 0
        if flush:
            with contextlib.suppress(OSError):
                os.fdatasync(self.fd)


def _pump(
    resp: Response,
    pos: int,
    want: int,
    writer: _Writer,
    blocks: _Blocks,
    track: _Track | None = None,
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


def _preallocate(fd: int, size: int) -> None:
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


def _plan(total: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk, total) - 1) for s in range(0, total, chunk)]


def _last_modified(resp: Response) -> str | None:
    """The response's Last-Modified when it is a strong validator: at least a
    second older than the response's Date (RFC 9110 13.1.5; a change within
    the same second would keep the date), else None."""
    lm, date = resp.headers.get("last-modified"), resp.headers.get("date")
    if not lm or not date:
        return None
    try:
        age = email.utils.parsedate_to_datetime(date) - email.utils.parsedate_to_datetime(lm)
    except (TypeError, ValueError):
        return None
    return lm if age.total_seconds() >= 1 else None


def _validator(etag: str | None, last_modified: str | None) -> str | None:
    """What ranged GETs send so that the server only answers 206 for the same
    object: a strong ETag, else a strong Last-Modified date.  None: the bytes
    of two requests cannot be bound to one object."""
    if etag and not etag.startswith("W/"):
        return etag
    return last_modified


def _changed(recorded: Mapping[str, Any], resp: Response) -> str | None:
    """Names the ETag, VersionId or Last-Modified when ``resp`` has another
    one than ``recorded`` (a server that ignored the validator)."""
    for key, name, value in (
        ("etag", "ETag", resp.etag),
        ("version_id", "VersionId", resp.version_id),
        ("last_modified", "Last-Modified", resp.headers.get("last-modified")),
    ):
        if recorded.get(key) and value and value != recorded[key]:
            return name
    return None


def download(
    transport: Transport,
    partial: Partial,
    opts: DownloadOptions,
    *,
    md5: bool | Callable[[Response], bool] = False,
    part_size: Callable[[Response], int | None] | None = None,
) -> DownloadResult:
    """Fetches the object behind ``transport`` into ``partial`` (resuming what
    its sidecar describes).  ``part_size(first_response)`` may return the S3
    multipart part size so the multipart ETag can be recomputed."""
    watch = _Watchdog(transport.url, opts.deadline)
    guarded = _Guarded(transport, watch, opts.max_bytes)
    try:
        return _download(guarded, partial, opts, md5, part_size)
    except BaseException as exc:
        if guarded.too_long:
            with contextlib.suppress(OSError):
                partial.reset()  # bytes past the ceiling are nothing to resume
        if watch.expired and not isinstance(exc, CacheError):
            raise watch.error() from exc
        raise
    finally:
        watch.stop()


def _download(
    transport: Transport,
    partial: Partial,
    opts: DownloadOptions,
    md5: bool | Callable[[Response], bool],
    part_size: Callable[[Response], int | None] | None,
) -> DownloadResult:
    deadline = time.monotonic() + opts.policy.total
    restarts = 0
    while True:
        try:
            return _attempt(transport, partial, opts, md5, part_size, deadline, restarts)
        except RestartClean as exc:
            restarts += 1
            if restarts > max(2, opts.policy.attempts):
                raise FetchError(
                    f"{transport.url}: gave up after {restarts} restarts ({exc})", url=transport.url
                ) from exc
            log.info("restarting the download of %s from zero: %s", transport.url, exc)
            partial.reset()
            if time.monotonic() > deadline:
                raise FetchError(
                    f"{transport.url}: out of time ({exc})", url=transport.url
                ) from exc
        except OSError as exc:
            if is_disk_full(exc):
                raise CacheError(
                    f"disk full while downloading {transport.url} into {partial.path.parent}; "
                    "free some space (or point MODELHUB_CACHE elsewhere) and pull again"
                ) from exc
            raise


def _request(
    transport: Transport,
    start: int,
    end: int | None,
    validator: str | None,
    policy: RetryPolicy,
    deadline: float,
    abort: threading.Event | None = None,
) -> Response:
    attempt = 0
    while True:
        try:
            return transport.get(start, end, validator=validator)
        except Transient as exc:
            attempt += 1
            _backoff(transport.url, exc, attempt, policy, deadline, abort)


def _backoff(
    url: str,
    exc: Transient,
    attempt: int,
    policy: RetryPolicy,
    deadline: float,
    abort: threading.Event | None,
) -> None:
    if attempt >= policy.attempts:
        raise FetchError(
            f"{url}: failed after {attempt} attempts: {exc}", url=url, status=exc.status
        ) from exc
    wait = policy.delay(attempt, exc.retry_after)
    if time.monotonic() + wait > deadline:
        raise FetchError(
            f"{url}: giving up, retries would exceed {policy.total:.0f} s: {exc}",
            url=url,
            status=exc.status,
        ) from exc
    log.info("retrying %s in %.2f s (attempt %d): %s", url, wait, attempt + 1, exc)
    if abort is not None:
        if abort.wait(wait):
            raise RestartClean("aborted")
    else:
        time.sleep(wait)


def _attempt(
    transport: Transport,
    partial: Partial,
    opts: DownloadOptions,
    md5: bool | Callable[[Response], bool],
    part_size: Callable[[Response], int | None] | None,
    deadline: float,
    restarts: int,
) -> DownloadResult:
    sc = partial.sidecar
    fd = partial.fd
    resumed = False
    if sc.get("size") is not None and sc.get("chunk") and "done" in sc:
        total = int(sc["size"])
        chunks = _plan(total, int(sc["chunk"]))
        done = {int(i) for i in sc["done"] if 0 <= int(i) < len(chunks)}
        missing = [i for i in range(len(chunks)) if i not in done]
        probe = chunks[missing[0]] if missing else (max(0, total - 1), max(0, total - 1))
        if total == 0:
            raise RestartClean("empty object")
        validator = _validator(sc.get("etag"), sc.get("last_modified"))
        if validator is None:
            # Without If-Range a changed object of the same size would be
            # spliced onto the old bytes.
            raise RestartClean("the server sent no ETag or Last-Modified to resume against")
        first = _request(transport, probe[0], probe[1], validator, opts.policy, deadline)
        if first.status != 206:
            first.close()
            raise RestartClean(f"HTTP {first.status} instead of 206 when resuming")
        changed = _changed(sc, first)
        if first.total != total or changed:
            first.close()
            raise RestartClean(
                f"the object changed since the partial download ({changed or 'size'})"
            )
        if not missing:
            first.close()
            first_for: int | None = None
        else:
            first_for = missing[0]
        resumed = bool(done)
        etag, version_id = sc.get("etag"), sc.get("version_id")
        last_modified = sc.get("last_modified")
        ranged = True
    else:
        try:
            first = _request(transport, 0, opts.chunk - 1, None, opts.policy, deadline)
        except RestartClean:
            # 416 on bytes=0-…: an empty object; ask for it plainly.
            first = _request(transport, 0, None, None, opts.policy, deadline)
        etag, version_id = first.etag, first.version_id
        last_modified = _last_modified(first)
        validator = _validator(etag, last_modified)
        if first.status == 206:
            total = int(first.total) if first.total is not None else 0
            ranged = True
            chunks = _plan(total, opts.chunk)
            done = set()
            missing = list(range(len(chunks)))
            first_for = 0
            _preallocate(fd, total)
            partial.save(
                size=total,
                chunk=opts.chunk,
                done=[],
                etag=etag,
                version_id=version_id,
                last_modified=last_modified,
            )
        else:
            ranged = False
            total = first.length if first.length is not None else -1
            chunks, done, missing, first_for = [], set(), [], None
            if total > 0:
                _preallocate(fd, total)

    psize = part_size(first) if part_size is not None else None
    want_md5 = md5(first) if callable(md5) else md5
    hasher = OrderedHasher(fd, md5=want_md5, part_size=psize)
    writer = _Writer(
        fd,
        partial.path,
        hasher,
        direct=opts.direct_io,
        flush_every=FLUSH_EVERY if opts.flush_during else 0,
    )
    blocks = _Blocks(opts.block)
    try:
        if not ranged:
            try:
                got = _single_stream(first, writer, blocks, opts, total)
            finally:
                writer.close()
            digests = hasher.finish(got)
            os.ftruncate(fd, got)
            return DownloadResult(digests, got, etag, version_id, first.headers, False, restarts)
        for i in sorted(done):
            s, e = chunks[i]
            hasher.feed_from_disk(s, e - s + 1)
        done_bytes = sum(chunks[i][1] - chunks[i][0] + 1 for i in done)
        progress = _Progress(opts, total, done_bytes)
        if done_bytes and opts.progress is not None:
            opts.progress(done_bytes, total)
        if missing:
            ident = {"etag": etag, "version_id": version_id, "last_modified": last_modified}
            _parallel(
                transport, partial, first if first_for is not None else None, chunks, missing,
                done, validator, ident, total, writer, blocks, progress, opts, deadline,
            )  # fmt: skip
        writer.close()
        digests = hasher.finish(total)
    except BaseException:
        with contextlib.suppress(BaseException):
            writer.close()
        hasher.abort()
        raise
    return DownloadResult(digests, total, etag, version_id, first.headers, resumed, restarts)


def _single_stream(
    resp: Response, writer: _Writer, blocks: _Blocks, opts: DownloadOptions, length: int
) -> int:
    """The server ignores ranges: one stream; a failure restarts from zero."""
    pos = 0
    progress = _Progress(opts, length if length >= 0 else None, 0)
    try:
        while True:
            try:
                n = _pump(resp, pos, opts.block, writer, blocks)
            except Transient as exc:
                raise RestartClean(f"stream without range support broke: {exc}") from exc
            if not n:
                break
            pos += n
            progress.add(n)
    finally:
        resp.close()
    if length >= 0 and pos != length:
        raise RestartClean(f"body ended after {pos} of {length} bytes")
    return pos


def _parallel(
    transport: Transport,
    partial: Partial,
    first: Response | None,
    chunks: list[tuple[int, int]],
    missing: list[int],
    done: set[int],
    validator: str | None,
    ident: Mapping[str, str | None],
    total: int,
    writer: _Writer,
    blocks: _Blocks,
    progress: _Progress,
    opts: DownloadOptions,
    deadline: float,
) -> None:
    queue = list(reversed(missing))
    qlock = threading.Lock()
    abort = threading.Event()
    finished = threading.Event()
    errors: list[BaseException] = []
    save_lock = threading.Lock()
    last_save = [0.0]
    pending_first: list[Response | None] = [first]
    most = max(1, min(opts.connections, len(missing)))
    # target: how many workers should run; active: how many do.  A worker
    # leaves between chunks while there are more than the target.
    pool = {"target": min(most, max(1, opts.start_connections)), "active": 0}
    threads: list[threading.Thread] = []

    def save(force: bool = False) -> None:
        with save_lock:
            now = time.monotonic()
            if force or now - last_save[0] > 0.25:
                last_save[0] = now
                with contextlib.suppress(OSError):
                    partial.save(done=sorted(done))

    def worker() -> None:
        left = False
        try:
            while not abort.is_set():
                with qlock:
                    if not queue or pool["active"] > pool["target"]:
                        pool["active"] -= 1
                        left = True
                        if pool["active"] == 0:
                            finished.set()
                        return
                    idx = queue.pop()
                    resp = pending_first[0] if idx == missing[0] else None
                    if resp is not None:
                        pending_first[0] = None
                track = _Track()
                if _fetch_chunk(idx, resp, track):
                    # Recorded once its bytes are written: a resume trusts it.
                    track.seal(lambda idx=idx: finish_chunk(idx))
        except BaseException as exc:
            errors.append(exc)
            abort.set()
        finally:
            if not left:
                with qlock:
                    pool["active"] -= 1
                    if pool["active"] == 0:
                        finished.set()

    def finish_chunk(idx: int) -> None:
        with save_lock:
            done.add(idx)
        save()

    def _fetch_chunk(idx: int, resp: Response | None, track: _Track) -> bool:
        start, end = chunks[idx]
        pos = start
        attempt = 0
        while pos <= end:
            if abort.is_set():
                if resp is not None:
                    resp.close()
                return False
            try:
                if resp is None:
                    resp = transport.get(pos, end, validator=validator)
                    if resp.status != 206:
                        resp.close()
                        raise RestartClean(f"HTTP {resp.status} instead of 206 for a range")
                    if resp.start != pos or (resp.total is not None and resp.total != total):
                        resp.close()
                        raise RestartClean("the server answered a different range or size")
                    changed = _changed(ident, resp)
                    if changed:
                        resp.close()
                        raise RestartClean(f"the {changed} changed during the download")
                before = pos
                while pos <= end:
                    if abort.is_set():
                        break
                    n = _pump(resp, pos, min(opts.block, end + 1 - pos), writer, blocks, track)
                    if not n:
                        raise Transient(f"body ended early at byte {pos} (range {start}-{end})")
                    pos += n
                    progress.add(n)
                resp.close()
                resp = None
                if pos > before:
                    attempt = 0
            except Transient as exc:
                if resp is not None:
                    with contextlib.suppress(Exception):
                        resp.close()
                    resp = None
                attempt += 1
                _backoff(transport.url, exc, attempt, opts.policy, deadline, abort)
        return True

    def spawn(n: int) -> None:
        with qlock:
            if not queue:
                return
            pool["active"] += n
            finished.clear()
        for _ in range(n):
            t = threading.Thread(target=worker, name=f"modelhub-dl-{len(threads)}", daemon=True)
            threads.append(t)
            t.start()

    spawn(pool["target"])
    try:
        _adapt(pool, qlock, queue, most, spawn, finished, progress, opts, transport.url)
    except BaseException:
        abort.set()
        raise
    finally:
        for t in threads:
            t.join()
        # What was received is written (and recorded done) before returning.
        with contextlib.suppress(BaseException):
            writer.close()
        save(force=True)
    if errors:
        real = [e for e in errors if not (isinstance(e, RestartClean) and str(e) == "aborted")]
        raise (real or errors)[0]
    if pending_first[0] is not None:
        pending_first[0].close()


def _adapt(
    pool: dict[str, int],
    qlock: threading.Lock,
    queue: list[int],
    most: int,
    spawn: Callable[[int], None],
    finished: threading.Event,
    progress: _Progress,
    opts: DownloadOptions,
    url: str,
) -> None:
    """Runs until the workers are done, choosing how many there should be:
    double while the aggregate rate over a window grows by ``probe_gain``,
    else go back to the count before the last doubling and stay there.  The
    window right after a change is skipped (new requests are starting)."""
    window = max(0.05, opts.probe_window)
    t_last, b_last = time.monotonic(), progress.done
    judging: tuple[int, float] | None = None  # (count before doubling, its rate)
    settling = False
    settled = pool["target"] >= most
    while not finished.wait(window if not settled else 1.0):
        if settled:
            continue
        now, got = time.monotonic(), progress.done
        rate = (got - b_last) / max(now - t_last, 1e-6)
        t_last, b_last = now, got
        if settling:
            settling = False
            continue
        current = pool["target"]
        if judging is not None:
            before, before_rate = judging
            judging = None
            if rate < before_rate * opts.probe_gain:
                with qlock:
                    pool["target"] = before
                settled = True
                log.debug(
                    "%s: back to %d connections (%.0f MB/s; %d gave %.0f MB/s)",
                    url,
                    before,
                    before_rate / 1e6,
                    current,
                    rate / 1e6,
                )
                continue
        with qlock:
            left = len(queue)
        if current >= most or left == 0:
            settled = True
            log.debug("%s: %d connections (%.0f MB/s)", url, current, rate / 1e6)
            continue
        grown = min(most, current * 2, current + left)
        judging = (current, rate)
        with qlock:
            pool["target"] = grown
        spawn(grown - current)
        settling = True


__all__ = [
    "DownloadOptions",
    "DownloadResult",
    "Response",
    "RestartClean",
    "RetryPolicy",
    "Transient",
    "Transport",
    "download",
]
