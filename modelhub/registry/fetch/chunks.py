"""The chunk scheduler of a ranged download: a pool of worker threads takes
the missing chunks off a queue, fetches each with its own ranged GET (retried
with backoff, bounded by the deadline), and records a chunk as done in the
partial's sidecar once its bytes are on disk, so a resume trusts it.  The
pool's size adapts while the download runs (:func:`adapt_connections`)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from modelhub.registry.fetch.transport import (
    DownloadOptions,
    Response,
    RestartClean,
    Transient,
    Transport,
    backoff,
    changed_validator,
)
from modelhub.registry.fetch.writer import (
    Blocks,
    ChunkWrites,
    Progress,
    Writer,
    pump,
)
from modelhub.registry.store.store import Partial

log = logging.getLogger(__name__)


@dataclass
class Ranged:
    """What every range request of one download must match."""

    transport: Transport
    chunks: list[tuple[int, int]]
    validator: str | None  # sent with every range (If-Range / IfMatch)
    ident: Mapping[str, str | None]  # ETag, VersionId, Last-Modified seen first
    total: int


class ChunkScheduler:
    """Fetches the ``missing`` chunks of a ranged download into ``writer``;
    ``first`` is the already open response for the first missing chunk."""

    def __init__(
        self,
        ranged: Ranged,
        partial: Partial,
        first: Response | None,
        missing: list[int],
        done: set[int],
        sink: tuple[Writer, Blocks, Progress],
        opts: DownloadOptions,
        deadline: float,
    ) -> None:
        self.ranged = ranged
        self.partial = partial
        self.missing = missing
        self.done = done
        self.writer, self.blocks, self.progress = sink
        self.opts = opts
        self.deadline = deadline
        self.queue = list(reversed(missing))
        self.qlock = threading.Lock()
        self.abort = threading.Event()
        self.finished = threading.Event()
        self.errors: list[BaseException] = []
        self.save_lock = threading.Lock()
        self.last_save = 0.0
        self.pending_first = first
        self.most = max(1, min(opts.connections, len(missing)))
        # target: how many workers should run; active: how many do.  A worker
        # leaves between chunks while there are more than the target.
        self.pool = {"target": min(self.most, max(1, opts.start_connections)), "active": 0}
        self.threads: list[threading.Thread] = []

    def run(self) -> None:
        self.spawn(self.pool["target"])
        try:
            adapt_connections(self, self.opts, self.ranged.transport.url)
        except BaseException:
            self.abort.set()
            raise
        finally:
            for t in self.threads:
                t.join()
            # What was received is written (and recorded done) before returning.
            with contextlib.suppress(BaseException):
                self.writer.close()
            self.save(force=True)
        if self.errors:
            real = [
                e for e in self.errors if not (isinstance(e, RestartClean) and str(e) == "aborted")
            ]
            raise (real or self.errors)[0]
        if self.pending_first is not None:
            self.pending_first.close()

    def spawn(self, n: int) -> None:
        with self.qlock:
            if not self.queue:
                return
            self.pool["active"] += n
            self.finished.clear()
        for _ in range(n):
            name = f"modelhub-dl-{len(self.threads)}"
            t = threading.Thread(target=self._worker, name=name, daemon=True)
            self.threads.append(t)
            t.start()

    def save(self, force: bool = False) -> None:
        with self.save_lock:
            now = time.monotonic()
            if force or now - self.last_save > 0.25:
                self.last_save = now
                with contextlib.suppress(OSError):
                    self.partial.save(done=sorted(self.done))

    def _next(self) -> tuple[int, Response | None] | None:
        """The next chunk (and its open response, for the first), or None
        when this worker should leave."""
        with self.qlock:
            if not self.queue or self.pool["active"] > self.pool["target"]:
                self._leave_locked()
                return None
            idx = self.queue.pop()
            resp = self.pending_first if idx == self.missing[0] else None
            if resp is not None:
                self.pending_first = None
            return idx, resp

    def _leave_locked(self) -> None:
        self.pool["active"] -= 1
        if self.pool["active"] == 0:
            self.finished.set()

    def _worker(self) -> None:
        left = False
        try:
            while not self.abort.is_set():
                job = self._next()
                if job is None:
                    left = True
                    return
                idx, resp = job
                track = ChunkWrites()
                if self._fetch_chunk(idx, resp, track):
                    # Recorded once its bytes are written: a resume trusts it.
                    track.seal(lambda idx=idx: self._finish_chunk(idx))
        except BaseException as exc:
            self.errors.append(exc)
            self.abort.set()
        finally:
            if not left:
                with self.qlock:
                    self._leave_locked()

    def _finish_chunk(self, idx: int) -> None:
        with self.save_lock:
            self.done.add(idx)
        self.save()

    def _open(self, pos: int, end: int) -> Response:
        """A ranged GET for ``pos..end`` that must be the same object."""
        r = self.ranged
        resp = r.transport.get(pos, end, validator=r.validator)
        problem = None
        if resp.status != 206:
            problem = f"HTTP {resp.status} instead of 206 for a range"
        elif resp.start != pos or (resp.total is not None and resp.total != r.total):
            problem = "the server answered a different range or size"
        else:
            changed = changed_validator(r.ident, resp)
            if changed:
                problem = f"the {changed} changed during the download"
        if problem is not None:
            resp.close()
            raise RestartClean(problem)
        return resp

    def _fetch_chunk(self, idx: int, resp: Response | None, track: ChunkWrites) -> bool:
        start, end = self.ranged.chunks[idx]
        pos = start
        attempt = 0
        while pos <= end:
            if self.abort.is_set():
                if resp is not None:
                    resp.close()
                return False
            try:
                if resp is None:
                    resp = self._open(pos, end)
                before = pos
                # pos advances with every block, so a retry after a broken
                # body asks only for what is missing
                while pos <= end and not self.abort.is_set():
                    want = min(self.opts.block, end + 1 - pos)
                    n = pump(resp, pos, want, self.writer, self.blocks, track)
                    if not n:
                        raise Transient(f"body ended early at byte {pos} (range {start}-{end})")
                    pos += n
                    self.progress.add(n)
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
                url = self.ranged.transport.url
                backoff(url, exc, attempt, self.opts.policy, self.deadline, self.abort)
        return True


def adapt_connections(sched: ChunkScheduler, opts: DownloadOptions, url: str) -> None:
    """Runs until the workers are done, choosing how many there should be:
    double while the aggregate rate over a window grows by ``probe_gain``,
    else go back to the count before the last doubling and stay there.  The
    window right after a change is skipped (new requests are starting)."""
    pool, qlock, queue, most = sched.pool, sched.qlock, sched.queue, sched.most
    spawn, finished, progress = sched.spawn, sched.finished, sched.progress
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
