"""``s3://bucket/key`` sources with boto3 (imported only when used).

Public folders are read anonymously (UNSIGNED) unless credentials are
configured cheaply visible (environment, profile, shared files); private
folders (``Settings.private_folders``) always use the standard credential
chain.  ``MODELHUB_S3_ENDPOINT`` points the client at another S3 (tests,
mirrors).  botocore's own retries are off: the engine retries.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelhub.errors import AccessDenied, FetchError
from modelhub.registry.artifact import Source
from modelhub.registry.fetch.deadline import shutdown_socket
from modelhub.registry.fetch.sources.base import FetchContext, Fetched, is_private, run_download
from modelhub.registry.fetch.sources.http import READ_TIMEOUT, status_error
from modelhub.registry.fetch.transport import DownloadResult, Response, RestartClean, Transient
from modelhub.registry.fetch.verify import etag_kind, normalize_etag
from modelhub.registry.netfail import unreachable

log = logging.getLogger(__name__)

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def parse_s3_url(url: str) -> tuple[str, str]:
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc or not u.path.strip("/"):
        raise FetchError(f"{url}: not an s3://bucket/key URL", url=url)
    return u.netloc, u.path.lstrip("/")


def credentials_configured() -> bool:
    """Credentials visible without network look-ups (no instance metadata)."""
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True
    if os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") or os.environ.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return True
    shared = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return Path(shared).expanduser().is_file()


def client(endpoint: str | None, signed: bool, read_timeout: float = READ_TIMEOUT) -> Any:
    # Credentials are resolved when a client is made: key the cache by what
    # selects them, so a changed environment gets a new client.
    ident = tuple(
        os.environ.get(v)
        for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE")
    )
    with _clients_lock:
        c = _clients.get((endpoint, signed, read_timeout, ident))
        if c is None:
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config

            cfg = Config(
                signature_version=None if signed else UNSIGNED,
                max_pool_connections=32,
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=10,
                read_timeout=read_timeout,  # MODELHUB_READ_TIMEOUT, as for HTTP(S)
                s3={"addressing_style": "path"} if endpoint else {},
            )
            region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
            c = boto3.session.Session().client(
                "s3", endpoint_url=endpoint, config=cfg, region_name=region or "us-east-1"
            )
            _clients[(endpoint, signed, read_timeout, ident)] = c
        return c


def _status(exc: Any) -> int:
    try:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return 0


class S3Transport:
    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None,
        signed: bool,
        private: bool,
        what: str,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.url = url
        self.bucket, self.key = parse_s3_url(url)
        self.endpoint = endpoint
        self.signed = signed
        self.private = private
        self.what = what
        self.client = client(endpoint, signed, read_timeout)
        self._head: dict[str, Any] | None = None

    def _map(self, exc: BaseException) -> BaseException:
        from botocore import exceptions as be

        if isinstance(exc, be.NoCredentialsError | be.PartialCredentialsError):
            return AccessDenied(
                f"{self.url}: no AWS credentials found. {self.what} is in a private folder: "
                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials",
                url=self.url,
            )
        if isinstance(exc, be.ClientError):
            status = _status(exc)
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if status == 416 or code == "InvalidRange":
                return RestartClean("HTTP 416 range not satisfiable")
            if status == 412 or code == "PreconditionFailed":
                return RestartClean("the object changed (ETag no longer matches)")
            if status == 429 or status >= 500 or code in ("SlowDown", "RequestTimeout"):
                return Transient(f"S3 {code or status}", status=status)
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                status = 404
            return status_error(self.url, status or 400, private=self.private, what=self.what)
        if isinstance(exc, be.BotoCoreError | ConnectionError | TimeoutError):
            # EndpointConnectionError wraps both a name that does not resolve
            # and a refused connection: the same on every retry
            down = unreachable(exc, self.url, host=self._host())
            if down is not None:
                return down
            return Transient(f"{type(exc).__name__}: {exc}")
        return exc

    def _host(self) -> str:
        if self.endpoint:
            u = urlparse(self.endpoint)
            return f"{u.hostname}:{u.port}" if u.port else str(u.hostname)
        return "s3.amazonaws.com"

    def head(self) -> dict[str, Any]:
        if self._head is None:
            try:
                self._head = self.client.head_object(
                    Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED"
                )
            except Exception as exc:
                mapped = self._map(exc)
                if isinstance(mapped, Transient):
                    return {}
                raise mapped from exc
        return self._head

    def get(self, start: int, end: int | None, *, validator: str | None) -> Response:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if start > 0 or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        if validator:
            try:  # a Last-Modified date where there is no ETag
                kwargs["IfUnmodifiedSince"] = email.utils.parsedate_to_datetime(validator)
            except (TypeError, ValueError):
                kwargs["IfMatch"] = validator
        try:
            r = self.client.get_object(**kwargs)
        except Exception as exc:
            raise self._map(exc) from exc
        body = r["Body"]
        status = int(r["ResponseMetadata"]["HTTPStatusCode"])
        length = r.get("ContentLength")
        total: int | None = length
        first = 0
        cr = r.get("ContentRange")
        if cr:
            status = 206
            span, _, size = cr.replace("bytes", "").strip().partition("/")
            first = int(span.split("-")[0])
            total = int(size) if size.isdigit() else None
        elif "Range" in kwargs:
            status = 200

        def read(n: int) -> bytes:
            try:
                return body.read(n)
            except Exception as exc:
                mapped = self._map(exc)
                if isinstance(mapped, Transient):
                    raise mapped from exc
                raise Transient(f"{type(exc).__name__} while reading: {exc}") from exc

        headers = {k.lower(): v for k, v in r["ResponseMetadata"].get("HTTPHeaders", {}).items()}
        return Response(
            status=status,
            start=first,
            length=length,
            total=total,
            etag=r.get("ETag"),
            version_id=r.get("VersionId"),
            headers=headers,
            read=read,
            close=body.close,
            abort=lambda: shutdown_socket(getattr(body, "_raw_stream", None)),
        )

    def part_size(self, first: Response) -> int | None:
        kind, _ = etag_kind(first.etag)
        if kind != "multipart":
            return None
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=self.key, PartNumber=1)
        except Exception:
            return None
        size = r.get("ContentLength")
        return int(size) if size else None


def fetch_s3(ctx: FetchContext, source: Source, *, private: bool | None = None) -> Fetched:
    if private is None:
        private = is_private(ctx.artifact, ctx.settings, source.location)
    endpoint = ctx.settings.s3_endpoint or None
    signed = private or credentials_configured()
    try:
        return _fetch(ctx, source, endpoint=endpoint, signed=signed, private=private)
    except AccessDenied:
        if private or not signed:
            raise
        # Credentials for another account can be refused where anonymous
        # access to a public object works.
        log.info("%s: signed request refused; trying anonymously", source.location)
        return _fetch(ctx, source, endpoint=endpoint, signed=False, private=private)


def _fetch(
    ctx: FetchContext, source: Source, *, endpoint: str | None, signed: bool, private: bool
) -> Fetched:
    transport = S3Transport(
        source.location,
        endpoint=endpoint,
        signed=signed,
        private=private,
        what=ctx.artifact.name,
        read_timeout=ctx.settings.read_timeout,
    )
    part_known = {"yes": False}

    def part_size(first: Response) -> int | None:
        size = transport.part_size(first)
        part_known["yes"] = size is not None
        return size

    def md5(first: Response) -> bool:
        return bool(ctx.artifact.checksum) or etag_kind(first.etag)[0] == "md5"

    def remote(result: DownloadResult) -> dict[str, Any]:
        out: dict[str, Any] = {}
        e = normalize_etag(result.etag)
        kind, _ = etag_kind(e)
        if kind == "md5" and e:
            out["md5"] = e.lower()
        elif kind == "multipart" and part_known["yes"] and e:
            out["multipart_etag"] = e.lower()
        head = transport.head()
        # The HEAD describes the bytes downloaded only while the ETag is theirs.
        sha = head.get("ChecksumSHA256") if head.get("ETag") == result.etag else None
        if sha and "-" not in sha:
            out["sha256_b64"] = sha
        return out

    return run_download(ctx, transport, source, remote_exp=remote, md5=md5, part_size=part_size)
