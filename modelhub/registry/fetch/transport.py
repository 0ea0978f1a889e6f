"""What the download engine talks to and how: the :class:`Transport` protocol
(HTTP via requests, S3 via boto3) and its :class:`Response`, the errors that
retry (:class:`Transient`) or restart from zero (:class:`RestartClean`), the
retry policy with its backoff, the validators that bind ranges to one object,
and the engine's options and result."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelhub.config import Settings
from modelhub.errors import FetchError
from modelhub.registry.files import Digests

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
    # Fills the buffer unless the body ends first and returns the count (0 at
    # the end); transports that can receive into the caller's buffer set it.
    readinto: Callable[[memoryview], int] | None = None
    # Unblocks a read in progress from another thread (shuts the socket down);
    # the deadline's watchdog calls it.  Default: ``close``.
    abort: Callable[[], None] | None = None


class Transport(Protocol):
    url: str

    def get(self, start: int, end: int | None, *, validator: str | None) -> Response:
        """Bytes ``start..end`` (inclusive; ``end=None``: to the end; ``start=0,
        end=None``: a plain GET).  ``validator``: only if the object still has
        this ETag, or is unmodified since this HTTP date when it is one
        (``If-Range``; ``IfMatch``/``IfUnmodifiedSince`` on S3).  Raises
        :class:`Transient`, :class:`RestartClean` or a :class:`FetchError`
        subclass."""
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
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """``retries``, ``retry_base`` and ``retry_total`` of the settings."""
        return cls(attempts=settings.retries, base=settings.retry_base, total=settings.retry_total)


@dataclass
class DownloadOptions:
    connections: int = 8  # the most parallel ranged GETs
    chunk: int = 16 * MiB
    block: int = 1 * MiB
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    start_connections: int = 2
    probe_window: float = 0.25  # seconds of transfer behind each connection-count decision
    probe_gain: float = 1.3  # doubling the connections must raise the rate this much
    direct_io: bool = True  # settings.direct_io
    # Flush page-cache writes during the download: only worth it when the
    # install fsyncs (MODELHUB_FSYNC=0 turns both off).
    flush_during: bool = True
    progress: Callable[[int, int | None], None] | None = None
    heartbeat: Callable[[int], None] | None = None
    # Seconds for the whole download (settings.download_deadline); None:
    # max(deadline.DEADLINE_FLOOR, size / deadline.DEADLINE_RATE).
    deadline: float | None = None
    # The ceiling of a body whose size nothing announces (download_max_gb).
    max_bytes: int = 64 << 30


@dataclass
class DownloadResult:
    digests: Digests
    total: int
    etag: str | None
    version_id: str | None
    headers: Mapping[str, str]
    resumed: bool
    restarts: int


def strong_last_modified(resp: Response) -> str | None:
    """The response's Last-Modified when it is a strong validator: at least a
    second older than the response's Date (RFC 9110 13.1.5; a change within
    the same second would keep the date), else None."""
    lm, date = resp.headers.get("last-modified"), resp.headers.get("date")
    if not lm or not date:
        return None
    try:
        age = email.utils.parsedate_to_datetime(date) - email.utils.parsedate_to_datetime(lm)
    except (TypeError, ValueError):
        return None
    return lm if age.total_seconds() >= 1 else None


def validator_for(etag: str | None, last_modified: str | None) -> str | None:
    """What ranged GETs send so that the server only answers 206 for the same
    object: a strong ETag, else a strong Last-Modified date.  None: the bytes
    of two requests cannot be bound to one object."""
    if etag and not etag.startswith("W/"):
        return etag
    return last_modified


def changed_validator(recorded: Mapping[str, Any], resp: Response) -> str | None:
    """Names the ETag, VersionId or Last-Modified when ``resp`` has another
    one than ``recorded`` (a server that ignored the validator)."""
    for key, name, value in (
        ("etag", "ETag", resp.etag),
        ("version_id", "VersionId", resp.version_id),
        ("last_modified", "Last-Modified", resp.headers.get("last-modified")),
    ):
        if recorded.get(key) and value and value != recorded[key]:
            return name
    return None


def request_with_retries(
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
            backoff(transport.url, exc, attempt, policy, deadline, abort)


def backoff(
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
