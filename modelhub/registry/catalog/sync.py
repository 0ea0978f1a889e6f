"""``modelhub catalog sync``: keeps local copies of the S3 ``metadata.json`` of
each configured folder, fetched with conditional requests, for offline use.

A copy lives at ``{cache}/catalog/metadata/{bucket}/{folder}/metadata.json``
beside ``metadata.json.http.json`` (URL, ETag, Last-Modified, when fetched and
last checked, the outcome of the last sync). A sync that fails for any reason
(network, HTTP status, a body that is not metadata.json) keeps the previous copy.
Public folders are read over plain HTTPS; private ones (``private_folders``)
through boto3 with the standard AWS credential chain, as their models are.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelhub.config import ENV
from modelhub.errors import CacheError, ConfigError

if TYPE_CHECKING:
    from modelhub.config import Settings

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://s3.amazonaws.com"
HEADERS_SUFFIX = ".http.json"


@dataclass(frozen=True)
class SyncResult:
    folder: str
    url: str
    status: str  # "updated", "not-modified", "failed"
    path: str
    lines: int | None = None  # usable lines in the copy now kept
    etag: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "url": self.url,
            "status": self.status,
            "path": self.path,
            "lines": self.lines,
            "etag": self.etag,
            "message": self.message,
        }


def metadata_url(settings: Settings, folder: str) -> str:
    base = (settings.s3_endpoint or DEFAULT_ENDPOINT).rstrip("/")
    return f"{base}/{settings.bucket}/{folder.strip('/')}/metadata.json"


def read_copy_headers(copy_path: str) -> dict[str, Any]:
    """What the last sync recorded about a copy; ``{}`` when nothing (or
    something unreadable) is there."""
    from modelhub.saferead import read_json

    try:
        return read_json(copy_path + HEADERS_SUFFIX, limit=1 << 20)
    except (OSError, ValueError):
        return {}


def _write_atomic(path: str, data: bytes) -> None:
    from pathlib import Path

    from modelhub.registry.files import atomic_write

    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(Path(path), data, fsync=False)


def _write_headers(copy_path: str, data: dict[str, Any]) -> None:
    _write_atomic(copy_path + HEADERS_SUFFIX, json.dumps(data, indent=2).encode("utf-8"))


def _count_usable(body: bytes, source: str, folder: str) -> tuple[int, int]:
    """(usable lines, non-empty lines) of a fetched body."""
    from modelhub.registry.catalog.metadata import iter_metadata

    text = body.decode("utf-8", errors="replace")
    nonempty = sum(1 for line in text.splitlines() if line.strip())
    usable = sum(1 for _ in iter_metadata(text, folder=folder, source=source))
    return usable, nonempty


def sync_folder(settings: Settings, folder: str, *, timeout: float = 30.0) -> SyncResult:
    """Fetches one folder's metadata.json if it changed since the stored copy."""
    import requests  # only here: the catalog's warm path never needs it

    from modelhub.registry.catalog.paths import metadata_copy_path

    url = metadata_url(settings, folder)
    copy = metadata_copy_path(settings, folder)
    previous = read_copy_headers(copy) if os.path.exists(copy) else {}
    request_headers: dict[str, str] = {}
    # If-None-Match alone when there is an ETag: servers should ignore
    # If-Modified-Since then (RFC 9110), but some (moto) answer 304 from a
    # same-second Last-Modified even though the ETag changed.
    if previous.get("etag"):
        request_headers["If-None-Match"] = previous["etag"]
    elif previous.get("last_modified"):
        request_headers["If-Modified-Since"] = previous["last_modified"]
    now = time.time()

    def failed(message: str) -> SyncResult:
        log.warning("sync of %s failed: %s; the previous copy is kept", url, message)
        if previous:
            _write_headers(
                copy,
                {**previous, "checked_at": now, "last_status": "failed", "last_error": message},
            )
        return SyncResult(
            folder, url, "failed", copy, previous.get("lines"), previous.get("etag"), message
        )

    private = folder in settings.private_folders
    if private:
        got = _get_signed(settings, folder, request_headers)
        if isinstance(got, str):
            return failed(got)
        resp = got
    else:
        try:
            resp = requests.get(url, headers=request_headers, timeout=timeout)
        except requests.RequestException as exc:
            return failed(_network_failure(exc, url))
    if resp.status_code == 304 and previous:
        _write_headers(
            copy, {**previous, "checked_at": now, "last_status": "not-modified", "last_error": None}
        )
        return SyncResult(
            folder, url, "not-modified", copy, previous.get("lines"), previous.get("etag")
        )
    if resp.status_code != 200:
        if resp.status_code in (401, 403) and private:
            hint = f" (a private folder: check the AWS credentials for s3://{settings.bucket})"
        elif resp.status_code in (403, 404):
            hint = " (is the bucket/folder right, and is it public?)"
        else:
            hint = ""
        return failed(f"HTTP {resp.status_code}{hint}")
    body = resp.content
    usable, nonempty = _count_usable(body, url, folder)
    if nonempty and not usable:
        return failed("the response is not a metadata.json (no usable line)")
    _write_atomic(copy, body)
    meta = {
        "url": url,
        "etag": resp.headers.get("ETag"),
        "last_modified": resp.headers.get("Last-Modified"),
        "fetched_at": now,
        "checked_at": now,
        "bytes": len(body),
        "lines": usable,
        "skipped_lines": nonempty - usable,
        "last_status": "updated",
        "last_error": None,
    }
    _write_headers(copy, meta)
    return SyncResult(folder, url, "updated", copy, usable, meta["etag"])


@dataclass(frozen=True)
class _Reply:
    """What :func:`sync_folder` reads of a response, from requests or boto3."""

    status_code: int
    content: bytes
    headers: dict[str, str]


def _get_signed(settings: Settings, folder: str, conditions: dict[str, str]) -> _Reply | str:
    """A private folder's metadata.json through boto3 with the standard AWS
    credential chain (as its models are fetched), with the same conditions;
    a string says why it failed."""
    import datetime
    import email.utils

    from botocore.exceptions import BotoCoreError, ClientError

    from modelhub.registry.fetch.sources.s3 import client

    kwargs: dict[str, Any] = {"Bucket": settings.bucket, "Key": f"{folder}/metadata.json"}
    if "If-None-Match" in conditions:
        kwargs["IfNoneMatch"] = conditions["If-None-Match"]
    elif "If-Modified-Since" in conditions:
        kwargs["IfModifiedSince"] = email.utils.parsedate_to_datetime(
            conditions["If-Modified-Since"]
        )
    try:
        r = client(settings.s3_endpoint, True).get_object(**kwargs)
        body = r["Body"].read()
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return _Reply(status, b"", {}) if status else f"{type(exc).__name__}: {exc}"
    except BotoCoreError as exc:  # no credentials, connection errors
        return _network_failure(exc, settings.s3_endpoint or "https://s3.amazonaws.com")
    headers = {"ETag": r.get("ETag") or ""}
    if r.get("LastModified") is not None:
        when = r["LastModified"].astimezone(datetime.UTC)  # botocore's tzutc
        headers["Last-Modified"] = email.utils.format_datetime(when, usegmt=True)
    return _Reply(200, body, headers)


def _network_failure(exc: BaseException, url: str) -> str:
    """One line for a request that failed: a host that cannot be reached is
    said plainly (and is not worth a retry), anything else as the client
    said it."""
    from modelhub.registry.netfail import describe, unreachable

    down = unreachable(exc, url)
    if down is not None:
        what = "no network or no DNS?" if down.reason == "dns" else "is the endpoint right?"
        return f"{describe(down.reason, down.host)} ({what})"
    return f"{type(exc).__name__}: {exc}"


def sync(
    settings: Settings | None = None, *, folders: list[str] | None = None, timeout: float = 30.0
) -> list[SyncResult]:
    """Syncs every configured folder (``Settings.folders``). Raises
    :class:`ConfigError` in offline mode: syncing needs the network."""
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    if settings.offline:
        raise ConfigError(
            f"offline mode is on ({settings.offline_source or 'offline=True in the settings'}): "
            "catalog sync needs the network; the cached copies stay in use"
        )
    from pathlib import Path

    from modelhub.registry.files import refused_cache_root

    root = Path(settings.path_text("cache_dir"))
    refused = refused_cache_root(root)
    if refused is not None:
        raise CacheError(
            f"{root} is not a modelhub cache (it holds {refused}, not made by modelhub): "
            f"catalog sync writes nothing into it; point {ENV['cache_dir']} at a modelhub cache "
            "or an empty directory"
        )
    return [sync_folder(settings, f, timeout=timeout) for f in (folders or settings.folders)]
