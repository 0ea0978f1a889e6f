"""``pull``: resolve, fetch, verify, cache; return a ready local directory.

A complete cache entry (manifest present, sizes and stat stamps as
recorded) is returned without any network call, online or offline.
Otherwise one process per artifact downloads (the others wait on the lock,
then find the entry), trying the sources in order (mirrors, local files,
S3, HTTPS, Hugging Face) with the same verification on every path.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.errors import (
    AccessDenied,
    CacheError,
    FetchError,
    IntegrityError,
    ModelhubError,
    ModelNotFound,
    NotCachedError,
)
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.download import DownloadOptions, RetryPolicy
from modelhub.registry.store import DEFAULT_STALE_AFTER, Entry, Store

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
"""``progress(bytes_done, bytes_total_or_None)``, called as bytes arrive."""

_PRIORITY = {"mirror": 0, "file": 0, "package": 0, "s3": 1, "https": 2, "hf": 3}


@dataclass(frozen=True)
class PullResult:
    path: Path  # the ready directory
    entry: Entry
    cache_hit: bool
    source: Source | None  # what served a download (None on a hit)
    transferred: int  # bytes fetched
    seconds: float
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        m = self.entry.manifest
        return {
            "key": self.entry.key,
            "path": str(self.path),
            "cache_hit": self.cache_hit,
            "repaired": self.repaired,
            "source": self.source.to_dict() if self.source else m.source,
            "transferred": self.transferred,
            "seconds": round(self.seconds, 3),
            "size": m.size,
            "files": len(m.files),
            "commit": m.commit,
        }


def pull(
    name: str,
    lang: str = "en",
    *,
    version: str | None = None,
    source: str | None = None,
    offline: bool | None = None,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    settings: Any = None,
    **resolve_kw: Any,
) -> Path:
    """Resolves ``name``/``lang`` (see :func:`modelhub.registry.resolve.resolve`)
    and returns the ready local directory of its artifact."""
    from modelhub.registry.resolve import resolve

    if source in ("s3", "https", "hf"):
        resolve_kw.setdefault("source", source)
    artifact = resolve(name, lang, version=version, **resolve_kw)
    return pull_artifact(
        artifact,
        source=source,
        offline=offline,
        verify=verify,
        progress=progress,
        settings=settings,
    )


def pull_artifact(
    artifact: Artifact,
    *,
    source: str | None = None,
    offline: bool | None = None,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    settings: Any = None,
    **options: Any,
) -> Path:
    """The ready local directory for ``artifact``: a zip's extracted
    contents, a Hugging Face snapshot's files, or a directory holding the
    one plain file."""
    return pull_result(
        artifact,
        source=source,
        offline=offline,
        verify=verify,
        progress=progress,
        settings=settings,
        **options,
    ).path


def _settings(settings: Any) -> Any:
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return settings


def _num(settings: Any, key: str, env: str, default: float) -> float:
    raw = os.environ.get(env, settings.extra.get(key, default))
    try:
        return float(raw)
    except (TypeError, ValueError):
        return default


def is_private(artifact: Artifact, settings: Any, location: str = "") -> bool:
    folder = artifact.record.folder or ""
    private = tuple(f.strip("/") for f in settings.private_folders)
    if folder.strip("/") in private:
        return True
    return any(f"/{p}/" in location for p in private)


def ordered_sources(artifact: Artifact, settings: Any, only: str | None = None) -> list[Source]:
    """Configured mirrors first, then the artifact's own sources by kind
    (local, S3, HTTPS, Hugging Face), keeping the catalog's order within a
    kind; ``only`` keeps one kind."""
    out: list[Source] = []
    if artifact.record.artifact or any(s.kind == "hf" for s in artifact.sources):
        out += [Source("mirror", m) for m in settings.mirrors]
    out += sorted(artifact.sources, key=lambda s: _PRIORITY.get(s.kind, 9))
    if only:
        kinds = {"local": {"mirror", "file", "package"}, "http": {"https"}}.get(only, {only})
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


def pull_result(
    artifact: Artifact,
    *,
    source: str | None = None,
    offline: bool | None = None,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    settings: Any = None,
    connections: int | None = None,
    retry: RetryPolicy | None = None,
    stale_after: float | None = None,
) -> PullResult:
    """:func:`pull_artifact` with details: cache hit or download, source, bytes."""
    settings = _settings(settings)
    offline = settings.offline if offline is None else offline
    store = Store.from_settings(settings)
    key = artifact.key
    label = f"{artifact.name} ({artifact.language or 'xx'})"
    t0 = time.monotonic()

    bad_content: str | None = None
    entry = store.lookup(key)
    if entry is not None:
        problems = entry.verify() if verify else entry.quick_check()
        if not problems:
            store.record_use(entry)
            log.info("cache hit: %s -> %s", label, entry.path)
            return PullResult(entry.path, entry, True, None, 0, time.monotonic() - t0)
        bad_content = entry.manifest.content
        log.warning(
            "cache entry for %s is damaged (%s); %s",
            label,
            ", ".join(f"{p.path}: {p.problem}" for p in problems[:5]),
            "cannot repair offline" if offline else "downloading it again",
        )
    if offline:
        what = f"modelhub pull {artifact.name} --lang {artifact.language or 'xx'}"
        raise NotCachedError(
            f"{label} [{key}] is not in the cache at {store.root}"
            f"{' (damaged)' if bad_content else ''} and offline mode is on; "
            f"run `{what}` while online (or unset MODELHUB_OFFLINE)"
        )
    sources = ordered_sources(artifact, settings, source)
    if not sources:
        raise ModelNotFound(
            f"{label} [{key}] has no download source" + (f" of kind {source!r}" if source else ""),
            name=artifact.name,
            language=artifact.language,
        )
    store.ensure_layout()
    _check_space(store, artifact)

    def ready() -> bool:
        e = store.lookup(key)
        return e is not None and e.manifest.content != bad_content and not e.quick_check()

    stale = stale_after
    if stale is None:
        stale = _num(settings, "lock_stale_seconds", "MODELHUB_LOCK_STALE", DEFAULT_STALE_AFTER)
    lock = store.lock(key, stale_after=stale)
    bar = _Bar(label, progress)
    try:
        if lock.acquire(ready) or ready():
            entry = store.lookup(key)
            assert entry is not None
            store.record_use(entry)
            log.info("cache hit: %s -> %s (downloaded by another process)", label, entry.path)
            return PullResult(entry.path, entry, True, None, 0, time.monotonic() - t0)
        opts = DownloadOptions(
            connections=int(
                connections or _num(settings, "download_connections", "MODELHUB_CONNECTIONS", 8)
            ),
            chunk=int(_num(settings, "download_chunk_mb", "MODELHUB_CHUNK_MB", 16) * (1 << 20)),
            policy=retry or RetryPolicy.from_env(),
            progress=bar,
            heartbeat=lock.beat,
        )
        fetched = _fetch_any(store, artifact, key, sources, opts, settings)
        from modelhub.registry.store import Manifest

        manifest = Manifest(
            key=key,
            content="",
            files=tuple(fetched.files),
            kind=fetched.kind,
            source=fetched.source.to_dict(),
            download=fetched.download,
            commit=fetched.commit,
            artifact=artifact.to_dict(),
        )
        entry = store.install(key, fetched.staged, manifest)
        store.record_use(entry)
    finally:
        bar.close()
        lock.release()
    seconds = time.monotonic() - t0
    log.info(
        "downloaded %s from %s: %d bytes in %.1f s -> %s",
        label,
        fetched.source.location,
        fetched.transferred,
        seconds,
        entry.path,
    )
    return PullResult(
        entry.path,
        entry,
        False,
        fetched.source,
        fetched.transferred,
        seconds,
        repaired=bad_content is not None,
    )


def _check_space(store: Store, artifact: Artifact) -> None:
    if not artifact.size:
        return
    try:
        free = shutil.disk_usage(store.root).free
    except OSError:
        return
    if free < artifact.size:
        raise CacheError(
            f"not enough space for {artifact.name}: it needs about {artifact.size} bytes and "
            f"{store.root} has {free} free; free some space or set MODELHUB_CACHE"
        )


def _fetch_any(
    store: Store,
    artifact: Artifact,
    key: str,
    sources: list[Source],
    opts: DownloadOptions,
    settings: Any,
) -> Any:
    from modelhub.registry.sources import FetchContext

    ctx = FetchContext(store=store, artifact=artifact, key=key, options=opts, settings=settings)
    errors: list[tuple[Source, ModelhubError]] = []
    for src in sources:
        try:
            return _fetch_one(ctx, src, settings)
        except CacheError:
            raise  # disk full or an unusable cache: another source will not help
        except ModelhubError as exc:
            log.warning("%s: source %s %s failed: %s", artifact.name, src.kind, src.location, exc)
            errors.append((src, exc))
    raise _pick_error(artifact, errors)


def _fetch_one(ctx: Any, src: Source, settings: Any) -> Any:
    if src.kind in ("mirror", "file", "package"):
        from modelhub.registry.sources.local import fetch_local

        return fetch_local(ctx, src)
    if src.kind == "hf":
        from modelhub.registry.sources.hf import fetch_hf

        return fetch_hf(ctx, src)
    if src.kind == "s3" or src.location.startswith("s3://"):
        from modelhub.registry.sources.s3 import fetch_s3

        return fetch_s3(ctx, src, private=is_private(ctx.artifact, settings, src.location))
    if src.location.startswith(("http://", "https://")):
        from modelhub.registry.sources.http import fetch_http

        return fetch_http(ctx, src, private=is_private(ctx.artifact, settings, src.location))
    if src.location.startswith("file://"):
        from modelhub.registry.sources.local import fetch_local

        return fetch_local(ctx, src)
    raise FetchError(f"unsupported source {src.kind}:{src.location}", url=src.location)


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
