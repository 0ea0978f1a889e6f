"""A local HTTP server with Range support and fault injection, counting what
it serves (requests and body bytes per path, server-side).

Faults are queued per path and consumed one per GET::

    http_server.fault("/m.zip", "drop")         # connection reset mid-body
    http_server.fault("/m.zip", "500")          # one 500, then normal
    http_server.fault("/m.zip", "429", retry_after=1)
    http_server.fault("/m.zip", "truncate")     # correct Content-Length, short body
    http_server.fault("/m.zip", "no-range")     # 200 + whole body instead of 206
    http_server.fault("/m.zip", "403") / "404"

Persistent behaviour: ``corrupt=True`` (one flipped byte in every body),
``rate`` (bytes per second per response), ``ranges=False``, ``etag=False``
(no ETag header), ``last_modified`` (a timestamp sent as Last-Modified).
``If-Range`` is honoured with the ETag or the Last-Modified date.
``redirect`` (a URL) answers every GET and HEAD with a 302 to it.
``overlong`` (a byte count) answers a GET with 200, no Content-Length and that
many bytes (``data`` repeated), then closes: a body longer than the HEAD said.
``head_length=False`` answers a HEAD with 200 and no Content-Length (a size
nothing announces).

``x-amz-checksum-*`` entries of ``headers`` are sent like S3 sends them:
only on a HEAD or a whole-object GET that asks with
``x-amz-checksum-mode: ENABLED``, never on a ranged GET.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import re
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Obj:
    data: bytes
    etag: str | None
    corrupt: bool = False
    rate: float | None = None
    ranges: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: float | None = None
    redirect: str | None = None
    overlong: int | None = None
    head_length: bool = True

    @property
    def last_modified_header(self) -> str | None:
        if self.last_modified is None:
            return None
        return email.utils.formatdate(self.last_modified, usegmt=True)


class FaultServer:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.faults: dict[str, list[dict[str, object]]] = defaultdict(list)
        self.requests: dict[str, int] = defaultdict(int)
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.log: list[tuple[str, str, str | None, int]] = []  # method, path, range, status
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, data: bytes, *, etag: bool = True, **kw: object) -> str:
        tag = '"' + hashlib.md5(data).hexdigest()[:16] + '"' if etag else None
        self.objects[path] = Obj(data=data, etag=tag, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def fault(self, path: str, kind: str, **kw: object) -> None:
        self.faults[path].append({"kind": kind, **kw})

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.faults.clear()
            self.requests.clear()
            self.bytes_sent.clear()
            self.log.clear()

    def gets(self, path: str) -> list[tuple[str, str, str | None, int]]:
        return [e for e in self.log if e[1] == path and e[0] == "GET"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _note(self, status: int) -> None:
            with server.lock:
                server.requests[self.path] += 1
                server.log.append((self.command, self.path, self.headers.get("Range"), status))

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _simple(self, status: int, headers: dict[str, str] | None = None) -> None:
            self._note(status)
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _serve(self, body: bool) -> None:
            obj = server.objects.get(self.path)
            fault = None
            if body:
                with server.lock:
                    queue = server.faults.get(self.path)
                    if queue:
                        fault = queue.pop(0)
            kind = fault["kind"] if fault else None
            if obj is None or kind == "404":
                return self._simple(404)
            if kind in ("500", "503", "403", "401"):
                return self._simple(int(str(kind)))
            if kind == "429":
                return self._simple(429, {"Retry-After": str(fault.get("retry_after", 1))})
            if obj.redirect is not None:
                return self._simple(302, {"Location": obj.redirect})
            if obj.overlong is not None and body:
                return self._overlong(obj)
            if not body and not obj.head_length:
                self._note(200)
                self.send_response(200)
                self.end_headers()
                return
            data = obj.data
            if obj.corrupt and data:
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
            total = len(data)
            start, end = 0, total - 1
            status = 200
            rng = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            last_modified = obj.last_modified_header
            current = not if_range or if_range in {v for v in (obj.etag, last_modified) if v}
            if rng and obj.ranges and kind != "no-range" and current:
                m = _RANGE.match(rng.strip())
                if m:
                    start = int(m.group(1))
                    end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
                    if start >= total:
                        return self._simple(416, {"Content-Range": f"bytes */{total}"})
                    status = 206
            self._note(status)
            self.send_response(status)
            self.send_header("Content-Length", str(end - start + 1))
            if obj.etag:
                self.send_header("ETag", obj.etag)
            if last_modified:
                self.send_header("Last-Modified", last_modified)
            self.send_header("Accept-Ranges", "bytes" if obj.ranges else "none")
            checksums = status == 200 and (
                self.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
            )
            for k, v in obj.headers.items():
                if checksums or not k.lower().startswith("x-amz-checksum-"):
                    self.send_header(k, v)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
            self.end_headers()
            if not body:
                return
            payload = memoryview(data)[start : end + 1]
            cut = None
            if kind in ("drop", "truncate", "stall"):
                cut = max(1, len(payload) // 2)
            if kind == "stall":
                # half the body, then silence until the client gives up (bounded)
                self._send(payload, obj.rate, cut, reset=False, hold=float(fault["seconds"]))
                return
            self._send(payload, obj.rate, cut, reset=(kind == "drop"))

        def _overlong(self, obj: Obj) -> None:
            self._note(200)
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            left = int(obj.overlong or 0)
            block = (obj.data or b"\0") * max(1, (64 * 1024) // max(1, len(obj.data)))
            try:
                while left > 0:
                    n = min(len(block), left)
                    self.wfile.write(block[:n])
                    left -= n
                    with server.lock:
                        server.bytes_sent[self.path] += n
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

        def _send(
            self,
            payload: memoryview,
            rate: float | None,
            cut: int | None,
            reset: bool,
            hold: float = 0.0,
        ) -> None:
            sent = 0
            limit = len(payload) if cut is None else cut
            step = 64 * 1024
            t0 = time.monotonic()
            try:
                while sent < limit:
                    n = min(step, limit - sent)
                    self.wfile.write(payload[sent : sent + n])
                    sent += n
                    with server.lock:
                        server.bytes_sent[self.path] += n
                    if rate:
                        ahead = sent / rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
                self.wfile.flush()
                if hold:
                    # returns early when the client closes the connection
                    self.connection.settimeout(hold)
                    with contextlib.suppress(OSError):
                        self.connection.recv(1)
                    self.close_connection = True
                    return
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
            if cut is not None:
                if reset:
                    # SO_LINGER 0: the close sends RST, a dropped connection.
                    with contextlib.suppress(OSError):
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                else:
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

    return Handler


@pytest.fixture(scope="session")
def http_server_session() -> Iterator[FaultServer]:
    srv = FaultServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def http_server(http_server_session: FaultServer) -> Iterator[FaultServer]:
    """The session's fault-injection server, emptied before each test."""
    http_server_session.reset()
    yield http_server_session
