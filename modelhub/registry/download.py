"""The download engine: parallel ranged GETs into one preallocated file,
resume, retries with backoff, in-order hashing without a second read.

A :class:`Transport` (HTTP via requests, S3 via boto3) turns "bytes a..b of
this object" into a :class:`Response`; everything else lives here:

* The first request asks for the first chunk (``Range: bytes=0-…``).  A 206
  gives the total size; the rest is split into chunks fetched by up to
  ``connections`` workers, each written with ``os.pwrite`` at its offset into
  a file preallocated to the full size.  A 200 means the server ignores
  ranges: the body is read as one stream.
* :class:`~modelhub.registry.verify.OrderedHasher` hashes the bytes in file
  order from the workers' buffers while they arrive.
* The partial file's sidecar records URL, ETag/VersionId, size and finished
  chunks; a later run resumes with ``Range`` + ``If-Range`` (``IfMatch`` on
  S3).  A 200 where a 206 was asked for, a 416, or a changed ETag/size
  discards the bytes and restarts cleanly.
* Connection errors, timeouts, truncated bodies, 429 (``Retry-After``) and
  5xx are retried with exponential backoff and full jitter, bounded by a
  count (consecutive failures without progress) and by total time.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from modelhub.errors import CacheError, FetchError
from modelhub.registry.store import Partial, is_disk_full
from modelhub.registry.verify import Digests, OrderedHasher

log = logging.getLogger(__name__)

MiB = 1 << 20


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


class Transport(Protocol):
    url: str

    def get(self, start: int, end: int | None, *, validator: str | None) -> Response:
        """Bytes ``start..end`` (inclusive; ``end=None``: to the end; ``start=0,
        end=None``: a plain GET).  ``validator``: only if the object still has
        this ETag (``If-Range``/``IfMatch``).  Raises :class:`Transient`,
        :class:`RestartClean` or a :class:`FetchError` subclass."""
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


@dataclass
class DownloadOptions:
    connections: int = 8
    chunk: int = 16 * MiB
    block: int = 1 * MiB
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    progress: Callable[[int, int | None], None] | None = None
    heartbeat: Callable[[int], None] | None = None


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


def _preallocate(fd: int, size: int) -> None:
    if size <= 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if is_disk_full(exc):
            raise
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
        os.ftruncate(fd, size)


def _plan(total: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk, total) - 1) for s in range(0, total, chunk)]


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
        first = _request(transport, probe[0], probe[1], sc.get("etag"), opts.policy, deadline)
        if first.status != 206:
            first.close()
            raise RestartClean(f"HTTP {first.status} instead of 206 when resuming")
        if first.total != total or (sc.get("etag") and first.etag and first.etag != sc["etag"]):
            first.close()
            raise RestartClean("the object changed since the partial download")
        if not missing:
            first.close()
            first_for: int | None = None
        else:
            first_for = missing[0]
        resumed = bool(done)
        etag, version_id = sc.get("etag"), sc.get("version_id")
        ranged = True
    else:
        try:
            first = _request(transport, 0, opts.chunk - 1, None, opts.policy, deadline)
        except RestartClean:
            # 416 on bytes=0-…: an empty object; ask for it plainly.
            first = _request(transport, 0, None, None, opts.policy, deadline)
        etag, version_id = first.etag, first.version_id
        if first.status == 206:
            total = int(first.total) if first.total is not None else 0
            ranged = True
            chunks = _plan(total, opts.chunk)
            done = set()
            missing = list(range(len(chunks)))
            first_for = 0
            _preallocate(fd, total)
            partial.save(size=total, chunk=opts.chunk, done=[], etag=etag, version_id=version_id)
        else:
            ranged = False
            total = first.length if first.length is not None else -1
            chunks, done, missing, first_for = [], set(), [], None
            if total > 0:
                _preallocate(fd, total)

    psize = part_size(first) if part_size is not None else None
    want_md5 = md5(first) if callable(md5) else md5
    hasher = OrderedHasher(fd, md5=want_md5, part_size=psize)
    try:
        if not ranged:
            got = _single_stream(transport, first, fd, hasher, opts, total)
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
            _parallel(
                transport, partial, first if first_for is not None else None, chunks, missing,
                done, etag, total, hasher, progress, opts, deadline,
            )  # fmt: skip
        digests = hasher.finish(total)
    except BaseException:
        hasher.abort()
        raise
    return DownloadResult(digests, total, etag, version_id, first.headers, resumed, restarts)


def _single_stream(
    transport: Transport,
    resp: Response,
    fd: int,
    hasher: OrderedHasher,
    opts: DownloadOptions,
    length: int,
) -> int:
    """The server ignores ranges: one stream; a failure restarts from zero."""
    pos = 0
    progress = _Progress(opts, length if length >= 0 else None, 0)
    try:
        while True:
            try:
                data = resp.read(opts.block)
            except Transient as exc:
                raise RestartClean(f"stream without range support broke: {exc}") from exc
            if not data:
                break
            os.pwrite(fd, data, pos)
            hasher.feed(pos, data)
            pos += len(data)
            progress.add(len(data))
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
    etag: str | None,
    total: int,
    hasher: OrderedHasher,
    progress: _Progress,
    opts: DownloadOptions,
    deadline: float,
) -> None:
    queue = list(reversed(missing))
    qlock = threading.Lock()
    abort = threading.Event()
    errors: list[BaseException] = []
    save_lock = threading.Lock()
    last_save = [0.0]
    pending_first: list[Response | None] = [first]

    def save(force: bool = False) -> None:
        with save_lock:
            now = time.monotonic()
            if force or now - last_save[0] > 0.25:
                last_save[0] = now
                with contextlib.suppress(OSError):
                    partial.save(done=sorted(done))

    def worker() -> None:
        try:
            while not abort.is_set():
                with qlock:
                    if not queue:
                        return
                    idx = queue.pop()
                    resp = pending_first[0] if idx == missing[0] else None
                    if resp is not None:
                        pending_first[0] = None
                _fetch_chunk(idx, resp)
                with save_lock:
                    done.add(idx)
                save()
        except BaseException as exc:
            errors.append(exc)
            abort.set()

    def _fetch_chunk(idx: int, resp: Response | None) -> None:
        start, end = chunks[idx]
        pos = start
        attempt = 0
        while pos <= end:
            if abort.is_set():
                if resp is not None:
                    resp.close()
                return
            try:
                if resp is None:
                    resp = transport.get(pos, end, validator=etag)
                    if resp.status != 206:
                        resp.close()
                        raise RestartClean(f"HTTP {resp.status} instead of 206 for a range")
                    if resp.start != pos or (resp.total is not None and resp.total != total):
                        resp.close()
                        raise RestartClean("the server answered a different range or size")
                    if etag and resp.etag and resp.etag != etag:
                        resp.close()
                        raise RestartClean("the ETag changed during the download")
                before = pos
                while pos <= end:
                    if abort.is_set():
                        break
                    data = resp.read(min(opts.block, end + 1 - pos))
                    if not data:
                        raise Transient(f"body ended early at byte {pos} (range {start}-{end})")
                    os.pwrite(partial.fd, data, pos)
                    hasher.feed(pos, data)
                    pos += len(data)
                    progress.add(len(data))
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

    n = max(1, min(opts.connections, len(missing)))
    threads = [
        threading.Thread(target=worker, name=f"modelhub-dl-{i}", daemon=True) for i in range(n)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except BaseException:
        abort.set()
        for t in threads:
            t.join()
        save(force=True)
        raise
    save(force=True)
    if errors:
        real = [e for e in errors if not (isinstance(e, RestartClean) and str(e) == "aborted")]
        raise (real or errors)[0]
    if pending_first[0] is not None:
        pending_first[0].close()


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
