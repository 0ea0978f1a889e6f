"""The whole download's deadline and size ceiling: a watchdog
cuts the open connections when the deadline passes, so a server trickling
bytes cannot hold a pull forever; a body is never written past its ceiling
(its declared size, else the size a ``HEAD`` announces, else
``DownloadOptions.max_bytes``), and a declared size over ``max_bytes`` is
refused before a byte is written.  :func:`guarded` wraps a transport for
:func:`modelhub.registry.fetch.download.download`."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from modelhub.config import KNOBS
from modelhub.errors import FetchError
from modelhub.registry.fetch.transport import Response, Transport

log = logging.getLogger(__name__)

DEADLINE_FLOOR = 600.0  # seconds: the least a download is given by default
DEADLINE_RATE = 1e6  # bytes per second the default deadline allows for (1 MB/s)
DEADLINE_SETTING = f"{KNOBS['download_deadline'].env} / download_deadline"
MAX_BYTES_SETTING = f"{KNOBS['download_max_gb'].env} / download_max_gb"


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


class Cuttable(Protocol):
    """What the watchdog can cut: a :class:`Response`, or a stream of the
    Hugging Face source's client (:mod:`modelhub.registry.fetch.sources.hf_guard`)."""

    abort: Callable[[], None] | None
    close: Callable[[], None]


class Watchdog:
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
        self._responses: dict[int, Cuttable] = {}
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

    def left(self) -> float:
        """Seconds until the deadline (negative once past)."""
        with self._cond:
            return self.t0 + self.limit - time.monotonic()

    def track(self, resp: Cuttable) -> None:
        with self._cond:
            self._responses[id(resp)] = resp
            expired = self.expired
        if expired:
            self._cut(resp)

    def untrack(self, resp: Cuttable) -> None:
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
    def _cut(resp: Cuttable) -> None:
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


class Guarded:
    """A transport whose responses answer to the deadline and the size
    ceiling (see :class:`Watchdog`)."""

    def __init__(self, inner: Transport, watch: Watchdog, max_bytes: int) -> None:
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
