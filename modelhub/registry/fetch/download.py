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
* The whole download has a deadline and every body a size ceiling
  (:mod:`modelhub.registry.fetch.deadline`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelhub.config import ENV
from modelhub.errors import CacheError, FetchError
from modelhub.registry.fetch.chunks import ChunkScheduler, Ranged
from modelhub.registry.fetch.deadline import Guarded, Watchdog
from modelhub.registry.fetch.transport import (
    DownloadOptions,
    DownloadResult,
    Response,
    RestartClean,
    RetryPolicy,
    Transient,
    Transport,
    changed_validator,
    request_with_retries,
    strong_last_modified,
    validator_for,
)
from modelhub.registry.fetch.verify import OrderedHasher
from modelhub.registry.fetch.writer import (
    FLUSH_EVERY,
    Blocks,
    Progress,
    Writer,
    preallocate,
    pump,
)
from modelhub.registry.store.layout import is_disk_full
from modelhub.registry.store.store import Partial

log = logging.getLogger(__name__)


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
    watch = Watchdog(transport.url, opts.deadline)
    guarded = Guarded(transport, watch, opts.max_bytes)
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
                    f"free some space (or point {ENV['cache_dir']} elsewhere) and pull again"
                ) from exc
            raise


@dataclass
class _Start:
    """Where an attempt stands after its first response."""

    first: Response
    ranged: bool
    total: int
    chunks: list[tuple[int, int]]
    done: set[int]
    missing: list[int]
    first_for: int | None  # the chunk ``first`` answers; None: it was closed
    etag: str | None
    version_id: str | None
    last_modified: str | None
    validator: str | None
    resumed: bool = False


def _resume(
    transport: Transport, partial: Partial, opts: DownloadOptions, deadline: float
) -> _Start:
    """Continues the partial download its sidecar describes, after checking
    with one ranged GET (with the recorded validator) that the object is the same."""
    sc = partial.sidecar
    total = int(sc["size"])
    chunks = _plan(total, int(sc["chunk"]))
    done = {int(i) for i in sc["done"] if 0 <= int(i) < len(chunks)}
    missing = [i for i in range(len(chunks)) if i not in done]
    probe = chunks[missing[0]] if missing else (max(0, total - 1), max(0, total - 1))
    if total == 0:
        raise RestartClean("empty object")
    validator = validator_for(sc.get("etag"), sc.get("last_modified"))
    if validator is None:
        # Without If-Range a changed object of the same size would be
        # spliced onto the old bytes.
        raise RestartClean("the server sent no ETag or Last-Modified to resume against")
    first = request_with_retries(transport, probe[0], probe[1], validator, opts.policy, deadline)
    if first.status != 206:
        first.close()
        raise RestartClean(f"HTTP {first.status} instead of 206 when resuming")
    changed = changed_validator(sc, first)
    if first.total != total or changed:
        first.close()
        raise RestartClean(f"the object changed since the partial download ({changed or 'size'})")
    if not missing:
        first.close()
    return _Start(
        first,
        True,
        total,
        chunks,
        done,
        missing,
        missing[0] if missing else None,
        sc.get("etag"),
        sc.get("version_id"),
        sc.get("last_modified"),
        validator,
        resumed=bool(done),
    )


def _begin(
    transport: Transport, partial: Partial, opts: DownloadOptions, deadline: float
) -> _Start:
    """A fresh start: the first chunk's range; a 206 plans the chunks and
    records them in the sidecar, a 200 means one stream."""
    try:
        first = request_with_retries(transport, 0, opts.chunk - 1, None, opts.policy, deadline)
    except RestartClean:
        # 416 on bytes=0-…: an empty object; ask for it plainly.
        first = request_with_retries(transport, 0, None, None, opts.policy, deadline)
    etag, version_id = first.etag, first.version_id
    last_modified = strong_last_modified(first)
    validator = validator_for(etag, last_modified)
    if first.status != 206:
        total = first.length if first.length is not None else -1
        if total > 0:
            preallocate(partial.fd, total)
        return _Start(
            first, False, total, [], set(), [], None, etag, version_id, last_modified, validator
        )
    total = int(first.total) if first.total is not None else 0
    chunks = _plan(total, opts.chunk)
    preallocate(partial.fd, total)
    partial.save(
        size=total,
        chunk=opts.chunk,
        done=[],
        etag=etag,
        version_id=version_id,
        last_modified=last_modified,
    )
    return _Start(
        first,
        True,
        total,
        chunks,
        set(),
        list(range(len(chunks))),
        0,
        etag,
        version_id,
        last_modified,
        validator,
    )


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
    if sc.get("size") is not None and sc.get("chunk") and "done" in sc:
        st = _resume(transport, partial, opts, deadline)
    else:
        st = _begin(transport, partial, opts, deadline)
    fd = partial.fd
    psize = part_size(st.first) if part_size is not None else None
    want_md5 = md5(st.first) if callable(md5) else md5
    hasher = OrderedHasher(fd, md5=want_md5, part_size=psize)
    writer = Writer(
        fd,
        partial.path,
        hasher,
        direct=opts.direct_io,
        flush_every=FLUSH_EVERY if opts.flush_during else 0,
    )
    blocks = Blocks(opts.block)
    headers = st.first.headers
    try:
        if not st.ranged:
            try:
                got = _single_stream(st.first, writer, blocks, opts, st.total)
            finally:
                writer.close()
            digests = hasher.finish(got)
            os.ftruncate(fd, got)
            return DownloadResult(digests, got, st.etag, st.version_id, headers, False, restarts)
        _ranged(transport, partial, st, hasher, writer, blocks, opts, deadline)
        writer.close()
        digests = hasher.finish(st.total)
    except BaseException:
        with contextlib.suppress(BaseException):
            writer.close()
        hasher.abort()
        raise
    return DownloadResult(digests, st.total, st.etag, st.version_id, headers, st.resumed, restarts)


def _ranged(
    transport: Transport,
    partial: Partial,
    st: _Start,
    hasher: OrderedHasher,
    writer: Writer,
    blocks: Blocks,
    opts: DownloadOptions,
    deadline: float,
) -> None:
    """Hashes the chunks already on disk, then fetches the missing ones."""
    for i in sorted(st.done):
        s, e = st.chunks[i]
        hasher.feed_from_disk(s, e - s + 1)
    done_bytes = sum(st.chunks[i][1] - st.chunks[i][0] + 1 for i in st.done)
    progress = Progress(opts, st.total, done_bytes)
    if done_bytes and opts.progress is not None:
        opts.progress(done_bytes, st.total)
    if not st.missing:
        return
    ident = {"etag": st.etag, "version_id": st.version_id, "last_modified": st.last_modified}
    ChunkScheduler(
        Ranged(transport, st.chunks, st.validator, ident, st.total),
        partial,
        st.first if st.first_for is not None else None,
        st.missing,
        st.done,
        (writer, blocks, progress),
        opts,
        deadline,
    ).run()


def _single_stream(
    resp: Response, writer: Writer, blocks: Blocks, opts: DownloadOptions, length: int
) -> int:
    """The server ignores ranges: one stream; a failure restarts from zero."""
    pos = 0
    progress = Progress(opts, length if length >= 0 else None, 0)
    try:
        while True:
            try:
                n = pump(resp, pos, opts.block, writer, blocks)
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


# The engine's types live in transport.py; they are named here too, where
# they were before the split, for code written against that.
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
