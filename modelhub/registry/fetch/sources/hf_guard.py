"""The download limits for every request huggingface_hub makes for modelhub.

The Hugging Face source downloads through huggingface_hub (auth from
``HF_TOKEN`` or the stored token, revision resolution, its Hub headers and
CDN handling).  Its HTTP client has no
overall deadline, no size ceiling and follows up to 20 redirects anywhere.
While modelhub fetches, huggingface_hub is given a client of ours
(``set_client_factory``): the client its previous factory builds (the
user's proxies, certificates, event hooks), with each transport wrapped so
that a request made on behalf of a modelhub fetch gets the limits modelhub's
own engine enforces (:mod:`modelhub.registry.fetch.deadline`):

* one deadline for the whole fetch, API calls and files together
  (``MODELHUB_DOWNLOAD_DEADLINE``, default max(10 min, size at 1 MB/s)):
  every request's timeouts are capped at the time left, and a watchdog shuts
  the sockets of open bodies down when it passes, so a trickle is cut;
* a size ceiling per body: a file's size from the Hub's listing (a longer
  body is cut at it, a larger Content-Length refused before a byte is read),
  any other answer ``MODELHUB_DOWNLOAD_MAX_GB`` (at most
  :data:`API_BODY_CAP`: JSON is held in memory); a listed size over the
  ceiling is refused before anything is downloaded;
* redirects only to http(s), at most :data:`MAX_REDIRECTS` in a row, never
  in a loop, checked on every redirect answer, whether httpx follows it
  (GET) or huggingface_hub does (its HEAD); the final URL of a file served by
  another host is recorded (without its query: signed CDN URLs carry
  credentials there).

A breach is a :class:`~modelhub.errors.FetchError` naming the URL and the
setting to change, kept in :attr:`HubLimits.error` whatever huggingface_hub
wraps it in, so the fetcher raises it and goes on to the next source.

Why not modelhub's engine for the bytes (listing with ``HfApi``, then ranged
GETs of ``/resolve/`` URLs): that re-implements what huggingface_hub does
(its auth header rules for CDN redirects, Xet, mirrors' redirects) and still
leaves the API calls without limits; a client of ours covers every byte and
keeps that behaviour.

Xet is off for a fetch: the ``X-Xet-Hash`` the Hub offers it with is
removed from the answers, so huggingface_hub takes the plain HTTP path (the
Hub serves every file there) instead of hf_xet, whose own connections no
limit here would reach.  The user's Xet setting is left alone.

Which requests count is decided per request by a context variable set for
the fetch (:func:`guarded`; worker threads get it with
:func:`contextvars.copy_context`), so concurrent fetches keep their own
limits and requests of the user's own code in other threads pass through
unchanged.  The factory is installed when the first fetch starts and the
previous one restored when the last ends (``set_client_factory`` closes the
shared client each time: huggingface_hub's own rule).  huggingface_hub
before 1.0 (requests, no client factory) downloads without these limits,
with a warning.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modelhub.errors import FetchError, ModelhubError
from modelhub.registry.fetch.deadline import MAX_BYTES_SETTING, Watchdog

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10  # as modelhub's own engine (sources/http.py)
API_BODY_CAP = 256 << 20  # bytes: an API answer (JSON) is read into memory
_REDIRECTS = (301, 302, 303, 307, 308)
_XET_HASH = "x-xet-hash"  # the Hub's offer of a Xet download


def _http_lib() -> Any:
    """The HTTP library huggingface_hub's client comes from: httpx2 (2.x),
    httpx (1.x), or None (0.x uses requests and has no client factory)."""
    try:
        from huggingface_hub.utils import _http
    except ImportError:
        return None
    if not hasattr(_http, "get_session") or not hasattr(_http, "set_client_factory"):
        return None
    return getattr(_http, "httpx2", None) or getattr(_http, "httpx", None)


_lib = _http_lib()
_StreamBase: Any = _lib.SyncByteStream if _lib is not None else object
_TransportBase: Any = _lib.BaseTransport if _lib is not None else object


class HubLimits:
    """The limits of one fetch from the Hub at ``endpoint`` (``url`` names
    it in errors), with what its requests have shown so far."""

    def __init__(self, url: str, endpoint: str, *, deadline: float | None, max_bytes: int) -> None:
        self.url = url
        self.endpoint_netloc = urlsplit(endpoint).netloc
        self.max_bytes = max_bytes
        self.watch = Watchdog(url, deadline)
        self.error: ModelhubError | None = None  # the first limit breached
        self.cancelled = False  # the fetch failed: later requests are refused
        self.final_urls: dict[str, str] = {}  # path in the repo -> another host's URL
        self._files: dict[str, tuple[str, int]] = {}  # URL -> (path in the repo, listed size)
        self._next: dict[str, str] = {}  # redirect: from -> to
        self._prev: dict[str, str] = {}
        self._lock = threading.Lock()

    def expect(self, url: str, rel: str, size: int) -> None:
        """``url`` serves ``rel``, which the Hub's listing gives ``size`` bytes."""
        if size > self.max_bytes:
            raise self.fail(
                FetchError(
                    f"{url}: {rel} has {size} bytes, over the {self.max_bytes}-byte ceiling; "
                    f"{MAX_BYTES_SETTING} raises it",
                    url=url,
                )
            )
        with self._lock:
            self._files[_norm(url)] = (rel, size)

    def fail(self, exc: ModelhubError) -> ModelhubError:
        """Records ``exc`` (the first breach wins) and returns it to raise."""
        with self._lock:
            if self.error is None:
                self.error = exc
        return exc

    def cancel(self) -> None:
        """The fetch failed: requests still to come are refused at once."""
        self.cancelled = True

    def stop(self) -> None:
        self.cancelled = True
        self.watch.stop()

    # -- one request ---------------------------------------------------------

    def send(self, inner: Any, request: Any) -> Any:
        if self.error is not None or self.cancelled:
            raise FetchError(
                f"{request.url}: not sent, the fetch of {self.url} failed", url=self.url
            )
        left = self.watch.left()
        if self.watch.expired or left <= 0:
            raise self.fail(self.watch.error())
        capped = _cap_timeouts(request, left)
        if request.headers.get("accept-encoding", "").strip().lower() != "identity":
            # Only encodings this module decodes itself, counting what they
            # expand to (a small gzip body can inflate without end).
            request.headers["Accept-Encoding"] = "gzip, deflate"
        try:
            response = inner.handle_request(request)
        except Exception as exc:
            if self.watch.expired or (capped and isinstance(exc, _lib.TimeoutException)):
                raise self.fail(self.watch.error()) from exc
            raise
        try:
            return self._checked(request, response)
        except BaseException:
            response.close()
            raise

    def _checked(self, request: Any, response: Any) -> Any:
        url = _norm(str(request.url))
        status = response.status_code
        if _XET_HASH in response.headers:
            # Without it huggingface_hub downloads over HTTP (this client),
            # not with hf_xet, whose own connections no limit here reaches.
            del response.headers[_XET_HASH]
        location = response.headers.get("location")
        if status in _REDIRECTS and location and location.strip():
            self._redirect(request.url, url, location.strip(), status)
        with self._lock:
            file = self._files.get(url)
        if file is not None:
            rel, size = file
            ceiling = size
            what = f"the {size} bytes the Hub's listing gives {rel}"
        else:
            ceiling = min(self.max_bytes, API_BODY_CAP)
            what = f"the {ceiling}-byte ceiling ({MAX_BYTES_SETTING} raises it)"
        if request.method == "HEAD":
            return response
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            encoding = ""
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # Decoded here and counted decoded; httpx sees a plain body.
            del response.headers["content-encoding"]
            if "content-length" in response.headers:
                del response.headers["content-length"]
        else:
            raise self.fail(
                FetchError(
                    f"{url}: the answer has Content-Encoding {encoding!r}, which was not "
                    "asked for; refused",
                    url=url,
                    status=status,
                )
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > ceiling:
            raise self.fail(
                FetchError(
                    f"{url}: the answer announces {declared} bytes, over {what}; refused",
                    url=url,
                    status=status,
                )
            )
        if file is not None and 200 <= status < 300:
            self._record_final(url, file[0])
        response.stream = _LimitedStream(
            self, response, url, ceiling, f"{url}: the body runs past {what}", encoding
        )
        return response

    def _redirect(self, base: Any, url: str, location: str, status: int) -> None:
        try:
            target = base.join(location)
            scheme = target.scheme.lower()
        except Exception:  # a Location httpx cannot parse
            scheme, target = "", None
        if target is None or scheme not in ("http", "https"):
            raise self.fail(
                FetchError(
                    f"{url}: HTTP {status} redirects to {location!r}, which is not an http(s) "
                    "URL; refused",
                    url=url,
                    status=status,
                )
            )
        to = _norm(str(target))
        with self._lock:
            self._next[url] = to
            self._prev.setdefault(to, url)
            if url in self._files:
                self._files.setdefault(to, self._files[url])
            loop, hops = _walk(self._next, to, url), _depth(self._prev, url)
        if loop:
            raise self.fail(
                FetchError(f"{url}: redirect loop (back to {to}); refused", url=url, status=status)
            )
        if hops > MAX_REDIRECTS:
            raise self.fail(
                FetchError(
                    f"{url}: more than {MAX_REDIRECTS} redirects; refused", url=url, status=status
                )
            )

    def _record_final(self, url: str, rel: str) -> None:
        parts = urlsplit(url)
        if parts.netloc == self.endpoint_netloc:
            return
        plain = urlunsplit(parts._replace(query="", fragment=""))
        with self._lock:
            new = self.final_urls.get(rel) != plain
            self.final_urls[rel] = plain
        if new:
            log.info("%s: %s was served by %s", self.url, rel, plain)


def _walk(edges: dict[str, str], start: str, goal: str) -> bool:
    """Whether following ``edges`` from ``start`` reaches ``goal``."""
    cur, seen = start, set()
    while cur not in seen:
        if cur == goal:
            return True
        seen.add(cur)
        nxt = edges.get(cur)
        if nxt is None:
            return False
        cur = nxt
    return False


def _depth(prev: dict[str, str], url: str) -> int:
    """How many redirects led to ``url`` plus the one it answers."""
    hops, cur, seen = 1, url, {url}
    while cur in prev and prev[cur] not in seen:
        cur = prev[cur]
        seen.add(cur)
        hops += 1
    return hops


def _norm(url: str) -> str:
    return str(_lib.URL(url).copy_with(fragment=None)) if _lib is not None else url


def _cap_timeouts(request: Any, left: float) -> bool:
    """Caps the request's connect/read/write/pool timeouts at ``left``
    seconds; True when that lowered one (a timeout then is the deadline)."""
    current = dict(request.extensions.get("timeout") or {})
    capped = False
    for key in ("connect", "read", "write", "pool"):
        value = current.get(key)
        if value is None or value > left:
            current[key] = left
            capped = True
    request.extensions["timeout"] = current
    return capped


class _LimitedStream(_StreamBase):  # type: ignore[misc]
    """A response body counted against its ceiling and cut by the deadline."""

    def __init__(
        self,
        limits: HubLimits,
        response: Any,
        url: str,
        ceiling: int,
        message: str,
        encoding: str = "",
    ) -> None:
        self.limits = limits
        self.inflate = _Inflate(encoding) if encoding else None
        self.inner = response.stream
        self.ceiling = ceiling
        self.message = message
        self.url = url
        self.got = 0
        stream = response.extensions.get("network_stream")
        self._socket = _socket_of(stream)
        self.abort: Callable[[], None] | None = self._shutdown

    def __iter__(self) -> Iterator[bytes]:
        watch = self.limits.watch
        watch.track(self)
        try:
            for raw in self.inner:
                for chunk in self._decoded(raw):
                    self.got += len(chunk)
                    if self.got > self.ceiling:
                        raise self.limits.fail(FetchError(f"{self.message}; cut", url=self.url))
                    yield chunk
            if self.inflate is not None:
                tail = self.inflate.flush()
                self.got += len(tail)
                if self.got > self.ceiling:
                    raise self.limits.fail(FetchError(f"{self.message}; cut", url=self.url))
                if tail:
                    yield tail
            if watch.expired:
                # A body that ends at the connection's close (no length)
                # looks complete when the watchdog shut the socket down.
                raise self.limits.fail(watch.error())
        except ModelhubError:
            raise
        except Exception as exc:
            if watch.expired:
                raise self.limits.fail(watch.error()) from exc
            raise
        finally:
            watch.untrack(self)

    def _decoded(self, raw: bytes) -> Iterator[bytes]:
        if self.inflate is None:
            yield raw
            return
        try:
            # Never more than one byte past the ceiling per step: a bomb is
            # caught before it is held in memory.
            yield from self.inflate.feed(raw, lambda: self.ceiling - self.got + 1)
        except zlib.error as exc:
            raise self.limits.fail(
                FetchError(
                    f"{self.url}: the compressed body cannot be decoded ({exc})", url=self.url
                )
            ) from exc

    def _shutdown(self) -> None:
        # Wakes a thread blocked reading the body; closing alone does not.
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        else:
            self.close()

    def close(self) -> None:
        self.limits.watch.untrack(self)
        self.inner.close()


class _Inflate:
    """gzip or deflate (zlib-wrapped, else raw, as httpx decodes it), in
    steps of bounded output."""

    def __init__(self, encoding: str) -> None:
        self.raw_fallback = encoding == "deflate"
        wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self.d = zlib.decompressobj(wbits)
        self.started = False

    def feed(self, data: bytes, room: Callable[[], int]) -> Iterator[bytes]:
        while data:
            try:
                out = self.d.decompress(data, max(1, room()))
            except zlib.error:
                if not (self.raw_fallback and not self.started):
                    raise
                self.raw_fallback = False
                self.d = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self.started = True
            data = self.d.unconsumed_tail
            if out:
                yield out

    def flush(self) -> bytes:
        return self.d.flush()


def _socket_of(stream: Any) -> socket.socket | None:
    if stream is None:
        return None
    with contextlib.suppress(Exception):
        sock = stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            return sock
    return None


# -- the client huggingface_hub uses --------------------------------------------

_JOB: contextvars.ContextVar[HubLimits | None] = contextvars.ContextVar(
    "modelhub_hf_limits", default=None
)


class _GuardedTransport(_TransportBase):  # type: ignore[misc]
    """Sends a request of a modelhub fetch under its limits; any other
    request unchanged."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        limits = _JOB.get()
        if limits is None:
            return self.inner.handle_request(request)
        return limits.send(self.inner, request)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> _GuardedTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.inner.__exit__(*args)


def _guarded_factory(previous: Callable[[], Any]) -> Callable[[], Any]:
    def factory() -> Any:
        client = previous()
        transport = getattr(client, "_transport", None)
        mounts = getattr(client, "_mounts", None)
        if transport is None or not isinstance(mounts, dict):
            raise FetchError(
                "huggingface_hub's HTTP client has no transport modelhub can wrap; "
                "download limits cannot be applied (upgrade modelhub or huggingface_hub)"
            )
        client._transport = _GuardedTransport(transport)
        client._mounts = {k: None if v is None else _GuardedTransport(v) for k, v in mounts.items()}
        return client

    factory.modelhub_guarded = True  # type: ignore[attr-defined]
    return factory


_install_lock = threading.Lock()
_active = 0
_previous: Callable[[], Any] | None = None
_warned = False


def _acquire() -> None:
    global _active, _previous
    from huggingface_hub.utils import _http

    with _install_lock:
        if _active == 0:
            current = getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) or _http.default_client_factory
            if getattr(current, "modelhub_guarded", False):
                current = _http.default_client_factory
            _previous = current
            _http.set_client_factory(_guarded_factory(current))
        _active += 1


def _release() -> None:
    global _active, _previous
    from huggingface_hub.utils import _http

    with _install_lock:
        _active -= 1
        if _active == 0 and _previous is not None:
            _http.set_client_factory(_previous)
            _previous = None


@contextlib.contextmanager
def guarded(limits: HubLimits) -> Iterator[HubLimits]:
    """Requests made in this context (and in worker threads started with a
    copy of it) are sent under ``limits``."""
    global _warned
    if _lib is None:
        if not _warned:
            _warned = True
            log.warning(
                "huggingface_hub before 1.0: downloads from the Hub run without modelhub's "
                "deadline, size ceiling and redirect rules; upgrade huggingface_hub"
            )
        try:
            yield limits
        finally:
            limits.stop()
        return
    _acquire()
    token = _JOB.set(limits)
    try:
        yield limits
    finally:
        _JOB.reset(token)
        limits.stop()
        _release()


def error_for(limits: HubLimits, exc: BaseException) -> BaseException:
    """The limit ``exc`` comes from (however huggingface_hub wrapped it),
    else ``exc``."""
    return limits.error if limits.error is not None and limits.error is not exc else exc
