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

from modelhub.errors import (
    AccessDenied,
    CacheError,
    FetchError,
    IntegrityError,
    ModelhubError,
    ModelNotFound,
)
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.fetch import sources as source_types
from modelhub.registry.fetch.sources.base import FetchContext, Fetched
from modelhub.registry.fetch.transport import DownloadOptions, RetryPolicy
from modelhub.registry.store.manifest import FileRecord
from modelhub.registry.store.store import Store

if TYPE_CHECKING:
    from modelhub.registry.fetch.archive import ExtractLimits
    from modelhub.registry.store.locks import ArtifactLock


from modelhub.config import Settings

log = logging.getLogger(__name__)

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
    for src in sources:
        try:
            return pin.check(artifact, src, _fetch_one(ctx, pin.source(src)))
        except CacheError:
            raise  # disk full or an unusable cache: another source will not help
        except ModelhubError as exc:
            log.warning("%s: source %s %s failed: %s", artifact.name, src.kind, src.location, exc)
            errors.append((src, exc))
    raise _pick_error(artifact, errors)


def _fetch_one(ctx: FetchContext, src: Source) -> Fetched:
    return source_types.fetcher_for(src)(ctx, src)


def _pick_error(artifact: Artifact, errors: list[tuple[Source, ModelhubError]]) -> ModelhubError:
    """The most telling error: bad bytes, then refused access, then not
    found everywhere, else the last failure; the message lists every source."""
    if len(errors) == 1:
        return errors[0][1]
    summary = "; ".join(f"{s.kind} {s.location}: {e}" for s, e in errors)
    for cls in (IntegrityError, AccessDenied):
        for _, e in errors:
            if isinstance(e, cls):
                return e
    if all(isinstance(e, ModelNotFound) for _, e in errors):
        return ModelNotFound(
            f"{artifact.name}: not found in any source ({summary})",
            name=artifact.name,
            language=artifact.language,
        )
    last = errors[-1][1]
    return FetchError(
        f"{artifact.name}: every source failed ({summary})",
        url=getattr(last, "url", None),
        status=getattr(last, "status", None),
    )
