"""``pull``: resolve, fetch, verify, cache; return a ready local directory.

A complete cache entry (manifest present, sizes and stat stamps as
recorded) is returned without any network call, online or offline.
Otherwise one process per artifact downloads (the others wait on the lock,
then find the entry), trying the sources in order (mirrors, local files,
S3, HTTPS, Hugging Face) with the same verification on every path.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.config import ENV, Settings
from modelhub.errors import (
    CacheError,
    ModelNotFound,
    NotCachedError,
)
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.fetch.fetcher import (
    ProgressCallback,
    _Bar,
    _download_options,
    _fetch_any,
    _Pin,
    _settings,
    ordered_sources,
)
from modelhub.registry.fetch.transport import RetryPolicy
from modelhub.registry.repair import _repair
from modelhub.registry.results import PullResult, _manifest_for
from modelhub.registry.store.locks import EntryLease
from modelhub.registry.store.manifest import Entry, FileProblem, FileRecord
from modelhub.registry.store.store import Store

log = logging.getLogger(__name__)


def pull(
    name: str,
    lang: str = "en",
    *,
    version: str | None = None,
    source: str | None = None,
    offline: bool | None = None,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    settings: Settings | None = None,
    **resolve_kw: Any,
) -> Path:
    """Resolves ``name``/``lang`` (see :func:`modelhub.registry.catalog.resolve.resolve`)
    and returns the ready local directory of its artifact."""
    from modelhub.registry.catalog.resolve import resolve

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
    settings: Settings | None = None,
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


def pull_result(
    artifact: Artifact,
    *,
    source: str | None = None,
    offline: bool | None = None,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    settings: Settings | None = None,
    connections: int | None = None,
    retry: RetryPolicy | None = None,
    stale_after: float | None = None,
    commit: str | None = None,
    expected_files: Iterable[FileRecord] | None = None,
) -> PullResult:
    """:func:`pull_artifact` with details: cache hit or download, source, bytes.

    For a lock (:func:`modelhub.registry.mirror.lockfile.pull_locked`): ``commit``
    fetches Hugging Face sources at that commit instead of their revision
    (the cache key stays the artifact's); ``expected_files`` (path, size,
    sha256) must be exactly what a source delivers, checked before anything
    is installed (a source that delivers other files counts as failed)."""
    settings = _settings(settings)
    offline = settings.offline if offline is None else offline
    store = Store.from_settings(settings)
    key = artifact.key
    label = f"{artifact.name} ({artifact.language or 'xx'})"
    t0 = time.monotonic()
    found = _look_up(store, key, label, verify=verify, offline=offline)
    if isinstance(found, Entry):
        return PullResult(found.path, found, True, None, 0, time.monotonic() - t0)
    if offline:
        what = f"modelhub pull {artifact.name} --lang {artifact.language or 'xx'}"
        raise NotCachedError(
            f"{label} [{key}] is not in the cache at {store.root}"
            f"{' (damaged)' if found else ''} and offline mode is on; "
            f"run `{what}` while online (or unset {ENV['offline']})"
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
    pin = _Pin(commit, None if expected_files is None else tuple(expected_files))
    job = _Job(store, artifact, label, found, sources, pin, settings, t0)
    return _fetch_and_install(job, progress, retry, connections, stale_after)


def _look_up(
    store: Store, key: str, label: str, *, verify: bool, offline: bool
) -> Entry | tuple[Entry, list[FileProblem]] | None:
    """The cached entry when it is whole (its use recorded), else the
    damaged entry with its problems, else None."""
    entry = store.lookup(key)
    if entry is None:
        return None
    problems = entry.verify() if verify else entry.quick_check()
    if not problems:
        store.record_use(entry)
        log.info("cache hit: %s -> %s", label, entry.path)
        return entry
    log.warning(
        "cache entry for %s is damaged (%s); %s",
        label,
        ", ".join(f"{p.path}: {p.problem}" for p in problems[:5]),
        "cannot repair offline" if offline else "downloading it again",
    )
    return entry, problems


@dataclass(frozen=True)
class _Job:
    store: Store
    artifact: Artifact
    label: str
    damaged: tuple[Entry, list[FileProblem]] | None
    sources: list[Source]
    pin: _Pin
    settings: Settings
    t0: float


def _fetch_and_install(
    job: _Job,
    progress: ProgressCallback | None,
    retry: RetryPolicy | None,
    connections: int | None,
    stale_after: float | None,
) -> PullResult:
    """Under the artifact's lock: fetch from the sources, then install (or
    repair the damaged entry); another process's fresh install is a hit."""
    store, artifact, key = job.store, job.artifact, job.artifact.key
    bad_content = job.damaged[0].manifest.content if job.damaged else None

    def ready() -> bool:
        e = store.lookup(key)
        return e is not None and e.manifest.content != bad_content and not e.quick_check()

    stale = job.settings.lock_stale_seconds if stale_after is None else stale_after
    lock = store.lock(key, stale_after=stale)
    bar = _Bar(job.label, progress)
    try:
        if lock.acquire(ready) or ready():
            entry = store.lookup(key)
            assert entry is not None
            store.record_use(entry)
            log.info("cache hit: %s -> %s (downloaded by another process)", job.label, entry.path)
            return PullResult(entry.path, entry, True, None, 0, time.monotonic() - job.t0)
        opts = _download_options(job.settings, store, lock, bar, retry, connections)
        replaced: tuple[str, ...] = ()
        if job.damaged is not None:
            fetched, entry, replaced = _repair(
                store, artifact, job.damaged, job.sources, opts, job.settings, job.pin
            )
        else:
            fetched = _fetch_any(store, artifact, key, job.sources, opts, job.settings, job.pin)
            entry = store.install(key, fetched.staged, _manifest_for(key, fetched, artifact))
        store.record_use(entry)
    finally:
        bar.close()
        lock.release()
    seconds = time.monotonic() - job.t0
    log.info(
        "downloaded %s from %s: %d bytes in %.1f s -> %s",
        job.label,
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
        replaced=replaced,
    )


def pull_leased(
    artifact: Artifact,
    *,
    offline: bool | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> tuple[Path, EntryLease | None]:
    """:func:`pull_artifact`, then a shared lease on the entry (see
    :meth:`Store.lease`) that keeps ``modelhub cache prune/rm`` from removing
    it until released.  The entry is looked up again under the lease: if it
    went away between the pull and the lease, it is pulled again."""
    settings = _settings(settings)
    store = Store.from_settings(settings)
    path = pull_artifact(artifact, offline=offline, settings=settings, **options)
    for _ in range(3):
        try:
            lease = store.lease(artifact.key)
        except (OSError, CacheError) as exc:
            log.debug("no lease on %s: %s", artifact.key, exc)
            return path, None
        entry = store.lookup(artifact.key)
        if entry is not None and entry.path.is_dir():
            return entry.path, lease
        if lease is not None:
            lease.release()
        path = pull_artifact(artifact, offline=offline, settings=settings, **options)
    return path, None


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
            f"{store.root} has {free} free; free some space or set {ENV['cache_dir']}"
        )
