"""A local server speaking enough of the Hugging Face Hub protocol for
``hf_hub_download`` and ``snapshot_download`` (huggingface_hub 2.x):

* ``GET /api/models/{repo}/revision/{rev}``: repo info with the commit ``sha``;
* ``GET /api/models/{repo}/tree/{rev}?recursive=...``: the file listing (size,
  git blob ``oid``, ``lfs`` with sha256 for large files);
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: the file, with ``X-Repo-Commit``,
  ``ETag`` (LFS sha256 or blob id), exact ``Content-Length`` and Range support.

Unknown repos answer 404 with ``X-Error-Code: RepoNotFound``, unknown
revisions ``RevisionNotFound``.  GETs are counted per file.

Faults, per request path (``hub.fault(hub.resolve_path(repo, file), ...)``,
or an API path such as ``/api/models/{repo}/tree/{commit}``): ``rate``
(bytes per second of a GET body), ``overlong`` (a GET answered 200 with no
Content-Length and that many bytes, then the connection closed; a HEAD
still announces the true size), ``redirect`` (a URL: every GET and HEAD of
the path answers 302 to it; the path needs no file behind it), ``host``
(the fault applies only to requests naming this Host), ``gzip`` (a GET
body sent gzip-compressed, ``overlong`` ones too), ``xet`` (answers offer
a Xet download the server cannot serve: ``X-Xet-Hash`` and a refresh
route).  Body bytes
sent are counted per path (``bytes_sent``).  The fixture sets
``HF_ENDPOINT`` and ``HF_HUB_DISABLE_XET=1`` before huggingface_hub is used;
modelhub passes the endpoint explicitly as well.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import pytest

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit
    lfs_threshold: int = 1024

    def is_lfs(self, path: str) -> bool:
        return len(self.files[path]) > self.lfs_threshold or path.endswith(
            (".safetensors", ".bin", ".onnx")
        )

    def entry(self, path: str) -> dict[str, object]:
        data = self.files[path]
        out: dict[str, object] = {"type": "file", "path": path, "size": len(data)}
        if self.is_lfs(path):
            sha = hashlib.sha256(data).hexdigest()
            out["oid"] = git_blob_id(f"oid sha256:{sha}\n".encode())
            out["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
        else:
            out["oid"] = git_blob_id(data)
        return out

    def etag(self, path: str) -> str:
        data = self.files[path]
        if self.is_lfs(path):
            return '"' + hashlib.sha256(data).hexdigest() + '"'
        return '"' + git_blob_id(data) + '"'


@dataclass
class Fault:
    rate: float | None = None
    overlong: int | None = None
    redirect: str | None = None
    host: str | None = None  # only requests with this Host header
    gzip: bool = False  # a GET body gzip-compressed (Content-Encoding: gzip)
    xet: bool = False  # answers offer a Xet download (X-Xet-Hash, refresh route)


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults: dict[str, Fault] = {}
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.gets: dict[str, int] = defaultdict(int)  # "repo/path" -> GET count
        self.api_calls: list[str] = []
        self.auth: list[tuple[str, str, str | None]] = []  # Host, path, Authorization
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add_repo(self, repo_id: str, files: dict[str, bytes], *, branch: str = "main") -> str:
        """Publishes ``files`` as a new commit on ``branch``; returns its hash."""
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        commit = digest.hexdigest()
        old = self.repos.get(repo_id)
        refs = dict(old.refs) if old else {}
        refs[branch] = commit
        self.repos[repo_id] = Repo(files=dict(files), commit=commit, refs=refs)
        return commit

    def resolve_path(self, repo_id: str, path: str) -> str:
        """The request path of ``path`` at the repo's current commit."""
        return f"/{repo_id}/resolve/{self.repos[repo_id].commit}/{path}"

    def fault(self, path: str, **how: object) -> Fault:
        f = self.faults[path] = Fault(**how)  # type: ignore[arg-type]
        return f

    def reset(self) -> None:
        with self.lock:
            self.repos.clear()
            self.faults.clear()
            self.bytes_sent.clear()
            self.gets.clear()
            self.api_calls.clear()
            self.auth.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            fault = self._fault()
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if fault is not None and fault.xet:
                self.send_header("X-Xet-Hash", "a" * 64)
                self.send_header("X-Xet-Refresh-Route", f"{hub.endpoint}/api/no-xet-here")
            overlong = fault is not None and fault.overlong and self.command == "GET"
            if overlong:
                assert fault is not None and fault.overlong
                body = (body or b" ") * (fault.overlong // max(1, len(body)) + 1)
                body = body[: fault.overlong]
            if fault is not None and fault.gzip and self.command == "GET":
                body = gzip.compress(body, compresslevel=9)
                self.send_header("Content-Encoding", "gzip")
            if overlong:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            self._write(body, fault.rate if fault is not None else None)

        def _write(self, body: bytes, rate: float | None) -> None:
            key = unquote(urlparse(self.path).path)
            step = 64 if rate else 64 * 1024
            t0, sent = time.monotonic(), 0
            try:
                while sent < len(body):
                    chunk = body[sent : sent + step]
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    sent += len(chunk)
                    with hub.lock:
                        hub.bytes_sent[key] += len(chunk)
                    if rate:
                        ahead = sent / rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)  # the server trickles; the tests never sleep
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _json(self, data: object) -> None:
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def _error(self, code: str) -> None:
            self._send(404, b'{"error": "not found"}', {"X-Error-Code": code})

        def _repo(self, repo_id: str, rev: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error("RepoNotFound")
                return None
            if rev != repo.commit and repo.refs.get(rev) != repo.commit:
                self._error("RevisionNotFound")
                return None
            return repo

        def _fault(self) -> Fault | None:
            fault = hub.faults.get(unquote(urlparse(self.path).path))
            if fault is not None and fault.host not in (None, self.headers.get("Host")):
                return None
            return fault

        def _linked(self, path: str) -> dict[str, str]:
            """What the Hub's redirect of a file to its CDN carries: the
            commit, the file's ETag and size (huggingface_hub reads them
            from the redirect itself)."""
            m = re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path)
            repo = hub.repos.get(m.group(1)) if m else None
            if m is None or repo is None or m.group(3) not in repo.files:
                return {}
            name = m.group(3)
            return {
                "X-Repo-Commit": repo.commit,
                "X-Linked-Etag": repo.etag(name),
                "X-Linked-Size": str(len(repo.files[name])),
            }

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(urlparse(self.path).path)
            with hub.lock:
                hub.api_calls.append(f"{self.command} {self.path}")
                hub.auth.append(
                    (self.headers.get("Host", ""), path, self.headers.get("Authorization"))
                )
            fault = self._fault()
            if fault is not None and fault.redirect is not None:
                return self._send(302, b"", {"Location": fault.redirect, **self._linked(path)})
            m = re.match(r"^/api/models/(.+?)/(revision|tree)/([^/]+)(/.*)?$", path)
            if m:
                repo = self._repo(m.group(1), m.group(3))
                if repo is None:
                    return
                if m.group(2) == "revision":
                    return self._json(
                        {
                            "id": m.group(1),
                            "modelId": m.group(1),
                            "sha": repo.commit,
                            "private": False,
                            "siblings": [{"rfilename": p} for p in sorted(repo.files)],
                        }
                    )
                entries = [repo.entry(p) for p in sorted(repo.files)]
                dirs = sorted({p.rsplit("/", 1)[0] for p in repo.files if "/" in p})
                folders = [{"type": "directory", "path": d, "oid": "0" * 40} for d in dirs]
                return self._json(folders + entries)
            m = re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path)
            if not m:
                return self._error("EntryNotFound")
            repo = self._repo(m.group(1), m.group(2))
            if repo is None:
                return
            name = m.group(3)
            if name not in repo.files:
                return self._error("EntryNotFound")
            data = repo.files[name]
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": repo.etag(name),
                "Accept-Ranges": "bytes",
            }
            status, body = 200, data
            rng = _RANGE.match(self.headers.get("Range", "").strip())
            if rng and self.command == "GET":
                start = int(rng.group(1))
                end = int(rng.group(2)) if rng.group(2) else len(data) - 1
                body = data[start : end + 1]
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            if self.command == "GET":
                with hub.lock:
                    hub.gets[f"{m.group(1)}/{name}"] += 1
            self._send(status, body, headers)

    return Handler


@pytest.fixture(scope="session")
def hf_hub_session() -> Iterator[HubServer]:
    srv = HubServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def hf_hub(hf_hub_session: HubServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """A fresh local Hub; HF_ENDPOINT points at it, Xet is off."""
    hf_hub_session.reset()
    monkeypatch.setenv("HF_ENDPOINT", hf_hub_session.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    yield hf_hub_session
