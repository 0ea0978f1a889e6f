"""HTTP(S) sources with requests: one pooled Session per process (proxies
from the environment), connect/read timeouts, ranged GETs for the engine."""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlparse

from modelhub.errors import AccessDenied, FetchError, ModelNotFound
from modelhub.registry.artifact import Source
from modelhub.registry.fetch.deadline import shutdown_socket
from modelhub.registry.fetch.sources.base import FetchContext, Fetched, is_private, run_download
from modelhub.registry.fetch.transport import DownloadResult, Response, RestartClean, Transient
from modelhub.registry.fetch.verify import etag_kind, normalize_etag
from modelhub.registry.netfail import unreachable

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_session: Any = None
_session_lock = threading.Lock()
_warned_hosts: set[str] = set()


def session() -> Any:
    """The process-wide requests Session (connection pooling, env proxies)."""
    global _session
    with _session_lock:
        if _session is None:
            import requests
            from requests.adapters import HTTPAdapter

            s = requests.Session()
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            s.headers["User-Agent"] = "modelhub/0.1"
            _session = s
        return _session


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_plain_http(url: str) -> None:
    u = urlparse(url)
    if u.scheme == "http" and not is_loopback(u.hostname) and u.hostname not in _warned_hosts:
        _warned_hosts.add(u.hostname or "")
        log.warning(
            "%s uses plain http: the bytes travel unencrypted (they are still verified)", url
        )


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(url: str, status: int, *, private: bool, what: str) -> Exception:
    """The error for a final HTTP status (404, 401/403, other 4xx)."""
    if status in (404, 410):
        return ModelNotFound(f"{what} not found at {url} (HTTP {status})", url=url)
    if status in (401, 403):
        if private:
            msg = (
                f"{url}: access denied (HTTP {status}). {what} is in a private folder: "
                "configure credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
                "~/.aws/credentials) for a licensed account"
            )
        else:
            msg = f"{url}: access denied (HTTP {status}); check the URL or your credentials"
        return AccessDenied(msg, url=url, status=status)
    return FetchError(f"{url}: HTTP {status}", url=url, status=status)


def connection_failure(exc: BaseException, url: str) -> Exception:
    """No such host, refused, no route: :class:`Unreachable`, the same on
    every retry; anything else (a timeout, a reset): :class:`Transient`."""
    down = unreachable(exc, url)
    return down if down is not None else Transient(f"{type(exc).__name__}: {exc}")


class HttpTransport:
    def __init__(
        self,
        url: str,
        *,
        private: bool = False,
        what: str = "the artifact",
        timeout: tuple[float, float] | None = None,
    ) -> None:
        self.url = url
        self.private = private
        self.what = what
        # read: seconds without a byte before a connection counts as stalled (retried)
        self.timeout = timeout or (CONNECT_TIMEOUT, READ_TIMEOUT)
        # where the last request ended after redirects (recorded when another host)
        self.final_url = url
        warn_plain_http(url)

    def _open(self, headers: dict[str, str]) -> Any:
        """GET with redirects followed here, not by requests: only to http(s)
        URLs, at most :data:`MAX_REDIRECTS`, never in a loop; anything else is
        a FetchError naming the URL (the next source is tried)."""
        import requests

        url = self.url
        seen = {url}
        for _ in range(MAX_REDIRECTS + 1):
            try:
                r = session().get(
                    url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=False
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise connection_failure(exc, url) from exc
            except requests.RequestException as exc:  # a malformed URL or answer
                raise FetchError(f"{url}: {type(exc).__name__}: {exc}", url=self.url) from exc
            if r.status_code not in _REDIRECTS:
                if url != self.final_url:
                    self.final_url = url
                    if urlparse(url).netloc != urlparse(self.url).netloc:
                        log.info("%s redirects to %s", self.url, url)
                return r
            location = r.headers.get("Location", "")
            r.close()
            target = urljoin(url, location.strip())
            scheme = urlparse(target).scheme.lower()
            if not location.strip() or scheme not in ("http", "https"):
                raise FetchError(
                    f"{self.url}: HTTP {r.status_code} redirects to {location!r}, which is not "
                    "an http(s) URL; refused",
                    url=self.url,
                    status=r.status_code,
                )
            if target in seen:
                raise FetchError(
                    f"{self.url}: redirect loop (back to {target}); refused",
                    url=self.url,
                    status=r.status_code,
                )
            seen.add(target)
            warn_plain_http(target)
            url = target
        raise FetchError(
            f"{self.url}: more than {MAX_REDIRECTS} redirects; refused", url=self.url, status=None
        )

    def get(self, start: int, end: int | None, *, validator: str | None) -> Response:
        import requests
        import urllib3

        headers = {"Accept-Encoding": "identity", "x-amz-checksum-mode": "ENABLED"}
        ranged = start > 0 or end is not None
        if ranged:
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
            if validator and not validator.startswith("W/"):
                headers["If-Range"] = validator
        r = self._open(headers)
        status = r.status_code
        if status not in (200, 206):
            r.close()
            if status == 416:
                raise RestartClean("HTTP 416 range not satisfiable")
            if status == 429 or status >= 500 or status == 408:
                raise Transient(
                    f"HTTP {status}",
                    retry_after=parse_retry_after(r.headers.get("Retry-After")),
                    status=status,
                )
            raise status_error(self.url, status, private=self.private, what=self.what)
        h = {k.lower(): v for k, v in r.headers.items()}
        length = int(h["content-length"]) if h.get("content-length", "").isdigit() else None
        total: int | None
        first = 0
        if status == 206:
            m = _CONTENT_RANGE.match(h.get("content-range", ""))
            if not m:
                r.close()
                raise RestartClean("206 without a usable Content-Range")
            first = int(m.group(1))
            total = int(m.group(3)) if m.group(3) != "*" else None
        else:
            total = length
        raw = r.raw
        protocol_errors = (
            urllib3.exceptions.HTTPError,
            requests.RequestException,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
        )
        # http.client's readinto receives straight into the caller's buffer
        # (one copy fewer than urllib3's read(), which matters at GB/s).
        fp = getattr(raw, "_fp", None)
        direct = fp is not None and hasattr(fp, "readinto") and length is not None
        left = [length if length is not None else -1]

        def readinto(view: memoryview) -> int:
            got, n = 0, len(view)
            try:
                while got < n:
                    k = fp.readinto(view[got:])
                    if not k:
                        break
                    got += k
            except protocol_errors as exc:
                raise Transient(f"{type(exc).__name__} while reading: {exc}") from exc
            left[0] -= got
            return got

        def read(n: int) -> bytes:
            if direct:
                buf = bytearray(n)
                with memoryview(buf) as view:
                    got = readinto(view)
                del buf[got:]
                return buf  # type: ignore[return-value]
            try:
                return raw.read(n, decode_content=False)
            except protocol_errors as exc:
                raise Transient(f"{type(exc).__name__} while reading: {exc}") from exc

        def close() -> None:
            # A body read to its end leaves the connection clean: back to the
            # pool for the next range (no new TCP/TLS handshake per chunk).
            # Anything else closes it.
            if direct and left[0] == 0 and fp.isclosed():
                raw.release_conn()
            else:
                r.close()

        return Response(
            status=status,
            start=first,
            length=length,
            total=total,
            etag=h.get("etag"),
            version_id=h.get("x-amz-version-id"),
            headers=h,
            read=read,
            close=close,
            readinto=readinto if direct else None,
            abort=lambda: shutdown_socket(raw),
        )

    def announced_size(self) -> int | None:
        """The size a ``HEAD`` of the (last redirect's) URL announces, for a
        body sent without Content-Length; None when it says nothing."""
        try:
            r = session().head(
                self.final_url,
                headers={"Accept-Encoding": "identity"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except Exception as exc:
            log.debug("%s: HEAD for the size failed: %s", self.url, exc)
            return None
        length = r.headers.get("Content-Length", "")
        return int(length) if r.status_code == 200 and length.isdigit() else None

    def multipart_part_size(self, first: Response) -> int | None:
        """S3 answers ``HEAD ?partNumber=1`` with the first part's size."""
        kind, _ = etag_kind(first.etag)
        if kind != "multipart" or not looks_like_s3(first.headers):
            return None
        sep = "&" if "?" in self.url else "?"
        try:
            r = session().head(f"{self.url}{sep}partNumber=1", timeout=self.timeout)
        except Exception:
            return None
        if r.status_code in (200, 206) and r.headers.get("Content-Length", "").isdigit():
            return int(r.headers["Content-Length"])
        return None

    def checksum_sha256(self, etag: str | None) -> str | None:
        """The whole object's ``x-amz-checksum-sha256`` from a ``HEAD`` with
        ``x-amz-checksum-mode: ENABLED`` (S3 sends none on a ranged GET), when
        that HEAD still sees ``etag``."""
        headers = {"Accept-Encoding": "identity", "x-amz-checksum-mode": "ENABLED"}
        try:
            r = session().head(self.url, headers=headers, timeout=self.timeout)
        except Exception as exc:
            log.debug("%s: HEAD for the checksum failed: %s", self.url, exc)
            return None
        if r.status_code != 200 or r.headers.get("ETag") != etag:
            log.debug("%s: no checksum from HEAD (HTTP %s)", self.url, r.status_code)
            return None
        return r.headers.get("x-amz-checksum-sha256")


def looks_like_s3(headers: Any) -> bool:
    return any(k.startswith("x-amz-") for k in headers) or headers.get("server") == "AmazonS3"


def s3_remote_expectations(
    result: DownloadResult,
    part_size_known: bool,
    head_checksum: Callable[[str | None], str | None] | None = None,
) -> dict[str, Any]:
    """What an S3-style response promises: the ETag as MD5 (single part) or
    as a multipart ETag, and x-amz-checksum-sha256 (from the response, else
    from ``head_checksum(etag)``)."""
    out: dict[str, Any] = {}
    h = result.headers
    sha_b64 = h.get("x-amz-checksum-sha256")
    if not sha_b64 and head_checksum is not None and looks_like_s3(h):
        sha_b64 = head_checksum(result.etag)
    if sha_b64 and "-" not in sha_b64:
        out["sha256_b64"] = sha_b64
    if looks_like_s3(h):
        kind, _ = etag_kind(result.etag)
        e = normalize_etag(result.etag)
        if kind == "md5" and e:
            out["md5"] = e.lower()
        elif kind == "multipart" and part_size_known and e:
            out["multipart_etag"] = e.lower()
    return out


def fetch_http(ctx: FetchContext, source: Source, *, private: bool | None = None) -> Fetched:
    if private is None:
        private = is_private(ctx.artifact, ctx.settings, source.location)
    transport = HttpTransport(
        source.location,
        private=private,
        what=ctx.artifact.name,
        timeout=(CONNECT_TIMEOUT, ctx.settings.read_timeout),
    )
    part_known = {"yes": False}

    def part_size(first: Response) -> int | None:
        size = transport.multipart_part_size(first)
        part_known["yes"] = size is not None
        return size

    def md5(first: Response) -> bool:
        # A single-part S3 ETag is the body's MD5: hash it alongside SHA-256
        # (same pass) only when there is something to compare it with.
        return bool(ctx.artifact.checksum) or (
            looks_like_s3(first.headers) and etag_kind(first.etag)[0] == "md5"
        )

    return run_download(
        ctx,
        transport,
        source,
        remote_exp=lambda result: s3_remote_expectations(
            result, part_known["yes"], transport.checksum_sha256
        ),
        md5=md5,
        part_size=part_size,
    )
