"""Fetching an artifact from its sources: orders them (configured mirrors
first, then by the priority each kind registered in
:mod:`modelhub.registry.fetch.sources`), tries each through its fetcher and
returns the first verified staging directory; when every source fails, the
most telling error names them all.  Also builds the download options and
extraction caps from the settings."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from modelhub.config import ENV, KNOBS
from modelhub.errors import (
    AccessDenied,
    CacheError,
    FetchError,
    IntegrityError,
    ModelhubError,
    ModelNotFound,
    Unreachable,
)
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.fetch import sources as source_types
from modelhub.registry.fetch.sources.base import FetchContext, Fetched
from modelhub.registry.fetch.transport import DownloadOptions, RetryPolicy
from modelhub.registry.netfail import describe
from modelhub.registry.store.manifest import FileRecord
from modelhub.registry.store.store import Store

if TYPE_CHECKING:
    from modelhub.registry.fetch.archive import ExtractLimits
    from modelhub.registry.store.locks import ArtifactLock


from modelhub.config import Settings

log = logging.getLogger(__name__)
HUB = KNOBS["hf_endpoint"].env

ProgressCallback = Callable[[int, int | None], None]
"""``progress(bytes_done, bytes_total_or_None)``, called as bytes arrive."""


def _settings(settings: Settings | None) -> Settings:
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return settings


def _download_options(
    settings: Settings,
    store: Store,
    lock: ArtifactLock,
    bar: _Bar,
    retry: RetryPolicy | None,
    connections: int | None = None,
) -> DownloadOptions:
    return DownloadOptions(
        connections=connections or settings.download_connections,
        chunk=settings.download_chunk,
        policy=retry or RetryPolicy.from_settings(settings),
        direct_io=settings.direct_io,
        deadline=settings.download_deadline,
        max_bytes=settings.download_max_bytes,
        progress=bar,
        heartbeat=lock.beat,
        flush_during=store.fsync,
    )


def extract_limits(settings: Settings) -> ExtractLimits:
    """The zip-bomb caps (see :func:`modelhub.safezip.zip_limits`)."""
    from modelhub.safezip import zip_limits

    return zip_limits(settings)


def ordered_sources(
    artifact: Artifact, settings: Settings, only: str | None = None
) -> list[Source]:
    """Configured mirrors first, then the artifact's own sources by kind
    (local, S3, HTTPS, Hugging Face), keeping the catalog's order within a
    kind; ``only`` keeps one kind."""
    out: list[Source] = [Source("mirror", m) for m in settings.mirrors]
    out += sorted(artifact.sources, key=lambda s: source_types.priority(s.kind))
    if only:
        kinds = source_types.kinds(only)
        out = [s for s in out if s.kind in kinds]
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for s in out:
        k = (s.kind, s.location, s.revision)
        if k not in seen:
            seen.add(k)
            unique.append(s)
    return unique


class _Bar:
    """tqdm on a terminal, nothing otherwise; or the user's callback."""

    def __init__(self, desc: str, callback: ProgressCallback | None) -> None:
        self.desc = desc
        self.callback = callback
        self.bar: Any = None
        self.last = 0
        self.tty = callback is None and sys.stderr.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        if self.callback is not None:
            self.callback(done, total)
            return
        if not self.tty:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=self.desc
            )
        self.bar.update(done - self.last)
        self.last = done

    def status(self, text: str) -> None:
        """What is happening now (connecting, copying): logged, and on a
        terminal one line above where the bar will be."""
        log.info("%s: %s", self.desc, text)
        if self.tty and self.callback is None:
            if self.bar is not None:
                self.bar.write(f"{self.desc}: {text}", file=sys.stderr)
            else:
                sys.stderr.write(f"{self.desc}: {text}\n")
                sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass(frozen=True)
class _Pin:
    """What a lock demands of a fetch: the Hugging Face commit, the exact files."""

    commit: str | None = None
    files: tuple[FileRecord, ...] | None = None

    def source(self, src: Source) -> Source:
        if self.commit and src.kind == "hf":
            return replace(src, revision=self.commit)
        return src

    def check(self, artifact: Artifact, src: Source, fetched: Any) -> Any:
        """``fetched``, or IntegrityError (its staged files deleted) when
        its files are not exactly the expected ones."""
        fetched.source = src  # the catalog's source, whatever commit was asked for
        if self.files is None:
            return fetched
        want = {(f.path, f.size, f.sha256) for f in self.files}
        have = {(f.path, f.size, f.sha256) for f in fetched.files}
        if want == have:
            return fetched
        shutil.rmtree(fetched.staged, ignore_errors=True)
        wrong = sorted({p for p, _, _ in want ^ have})
        raise IntegrityError(
            f"{artifact.name}: {src.kind} {src.location} serves files that differ from the "
            f"lock ({', '.join(wrong[:5])}{' ...' if len(wrong) > 5 else ''}); nothing was "
            "installed",
            artifact=artifact.name,
            expected=", ".join(sorted(f"{p}:{h[:12]}" for p, _, h in want if p in wrong)[:3]),
            actual=", ".join(sorted(f"{p}:{h[:12]}" for p, _, h in have if p in wrong)[:3]),
        )


def _fetch_any(
    store: Store,
    artifact: Artifact,
    key: str,
    sources: list[Source],
    opts: DownloadOptions,
    settings: Settings,
    pin: _Pin | None = None,
) -> Any:
    pin = pin or _Pin()
    ctx = FetchContext(
        store=store,
        artifact=artifact,
        key=key,
        options=opts,
        settings=settings,
        extract_limits=extract_limits(settings),
    )
    errors: list[tuple[Source, ModelhubError]] = []
    status = getattr(opts.progress, "status", None)
    for src in sources:
        if status is not None:
            status(_trying(src))
        try:
            fetched = pin.check(artifact, src, _fetch_one(ctx, pin.source(src)))
        except CacheError:
            raise  # disk full or an unusable cache: another source will not help
        except ModelhubError as exc:
            # Said once: in the final error when every source fails, in one
            # warning when a later source serves the artifact.
            log.info("%s: source %s %s failed: %s", artifact.name, src.kind, src.location, exc)
            errors.append((src, exc))
            continue
        if errors:
            log.warning(
                "%s: fetched from %s %s after %s",
                artifact.name,
                src.kind,
                src.location,
                "; ".join(f"{s.kind} {s.location} failed ({_short(e)})" for s, e in errors),
            )
        return fetched
    raise _pick_error(artifact, errors)


def _trying(src: Source) -> str:
    """What the status line says while ``src`` is tried."""
    if source_types.is_local(src):
        return f"copying from {src.kind} {src.location}"
    if src.kind == "hf":
        return f"connecting to the Hugging Face Hub for {src.location}"
    host = urlparse(src.location).hostname if "://" in src.location else None
    if src.location.startswith("s3://"):
        host = f"S3 bucket {host}"
    return f"resolving and connecting to {host or src.location} ({src.kind})"


def _short(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message, at most ``limit`` characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fetch_one(ctx: FetchContext, src: Source) -> Fetched:
    return source_types.fetcher_for(src)(ctx, src)


def _pick_error(artifact: Artifact, errors: list[tuple[Source, ModelhubError]]) -> ModelhubError:
    """The most telling error: bad bytes, then refused access, then not
    found everywhere, else the last failure; the message lists every source,
    one line each.  When no source could be reached at all it is one short
    paragraph: what was tried, the likely cause, what to do."""
    if errors and all(isinstance(e, Unreachable) for _, e in errors):
        return _unreachable(artifact, errors)
    if len(errors) == 1:
        return errors[0][1]
    summary = "".join(f"\n  {s.kind} {s.location}: {_short(e)}" for s, e in errors)
    for cls in (IntegrityError, AccessDenied):
        for _, e in errors:
            if isinstance(e, cls):
                return e
    if all(isinstance(e, ModelNotFound) for _, e in errors):
        return ModelNotFound(
            f"{artifact.name}: not found in any source:{summary}",
            name=artifact.name,
            language=artifact.language,
        )
    last = errors[-1][1]
    return FetchError(
        f"{artifact.name}: every source failed:{summary}",
        url=getattr(last, "url", None),
        status=getattr(last, "status", None),
    )


def _unreachable(artifact: Artifact, errors: list[tuple[Source, ModelhubError]]) -> Unreachable:
    downs = [e for _, e in errors if isinstance(e, Unreachable)]
    tried = "".join(
        # the Hub's line names the endpoint it tried (HF_ENDPOINT)
        f"\n  {s.kind} {e.url if s.kind == 'hf' and e.url else s.location}: "
        + (describe(e.reason, e.host) if isinstance(e, Unreachable) else _short(e))
        for s, e in errors
    )
    if any(e.reason == "dns" for e in downs):
        cause = "host names do not resolve: most likely this machine has no network (or no DNS)"
    elif any(e.reason == "unreachable" for e in downs):
        cause = "there is no route to the hosts: most likely this machine has no network"
    else:
        cause = (
            f"the connections were refused: the servers (or the endpoints set in {HUB} / "
            f"{ENV['s3_endpoint']}, or a proxy) are down or wrong"
        )
    what = f"{artifact.name} ({artifact.language or 'xx'})"
    return Unreachable(
        f"{what}: no source could be reached ({len(errors)} tried):{tried}\n"
        f"Likely cause: {cause}.\n"
        f"What to do: use a copy on this machine (the cache with {ENV['offline']}=1, a mirror "
        f"in {ENV['mirrors']} or `modelhub import DIR`), point {HUB} or "
        f"{ENV['s3_endpoint']} at a server you can reach, check HTTPS_PROXY, or pull where "
        "there is a network (with credentials for private folders)",
        url=downs[-1].url,
        host=downs[-1].host,
        reason=downs[-1].reason,
    )
