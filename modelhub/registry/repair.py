"""Repair: re-fetches the bad files of a damaged cache entry and installs a
new content directory made of the good files (hard links) and the
replacements.  Used by ``pull`` (a damaged entry) and by
``cache verify --repair`` (through :func:`repairer_for`)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelhub.config import Settings
from modelhub.errors import (
    IntegrityError,
    ModelhubError,
    ModelNotFound,
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
from modelhub.registry.fetch.transport import DownloadOptions, RetryPolicy
from modelhub.registry.results import PullResult, _manifest_for
from modelhub.registry.store.manifest import Entry, FileProblem, FileRecord, Manifest
from modelhub.registry.store.store import Store

log = logging.getLogger(__name__)


def artifact_from_manifest(manifest: Manifest) -> Artifact:
    """The artifact an entry was pulled for, rebuilt from its manifest (no
    catalog needed)."""
    from modelhub.cards.record import ModelCard

    a = manifest.artifact or {}
    record = ModelCard.from_dict(a.get("record") or {"name": manifest.key})
    sources = tuple(
        Source(s["kind"], s["location"], s.get("revision"))
        for s in a.get("sources") or ()
        if isinstance(s, dict) and "kind" in s and "location" in s
    )
    if not sources and manifest.source.get("location"):
        src = manifest.source
        sources = (Source(src["kind"], src["location"], src.get("revision")),)
    return Artifact(
        record=record,
        sources=sources,
        checksum=a.get("checksum"),
        sha256=a.get("sha256"),
        size=a.get("size"),
    )


def repair_entry(
    entry: Entry,
    problems: list[FileProblem] | None = None,
    *,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    retry: RetryPolicy | None = None,
) -> PullResult:
    """Re-fetches what is bad in ``entry`` (``problems`` from
    :meth:`Entry.verify`, computed when not given) and installs a new content
    directory made of the good files (hard links, untouched) and the fetched
    replacements.  A Hugging Face entry downloads only the bad files at its
    recorded commit; an archive or single file must be fetched whole, but
    only its bad files are replaced.  Readers of the old files are not
    disturbed: the old directory stays until nobody uses the entry."""
    if problems is None:
        problems = entry.verify()
    if not problems:
        return PullResult(entry.path, entry, True, None, 0, 0.0)
    settings = _settings(settings)
    artifact = artifact_from_manifest(entry.manifest)
    store = Store.from_settings(settings)
    t0 = time.monotonic()
    sources = ordered_sources(artifact, settings)
    if not sources:
        raise ModelNotFound(
            f"{artifact.name} [{entry.key}]: the manifest names no source to repair it from",
            name=artifact.name,
            language=artifact.language,
        )
    lock = store.lock(entry.key)
    bar = _Bar(f"{artifact.name} ({artifact.language or 'xx'})", progress)
    try:
        lock.acquire()
        current = store.lookup(entry.key)
        if current is not None and current.manifest.content != entry.manifest.content:
            fresh = current.verify()
            if not fresh:  # repaired by someone else meanwhile
                return PullResult(current.path, current, True, None, 0, time.monotonic() - t0)
            entry, problems = current, fresh
        opts = _download_options(settings, store, lock, bar, retry)
        fetched, new, replaced = _repair(
            store, artifact, (entry, problems), sources, opts, settings
        )
    finally:
        bar.close()
        lock.release()
    return PullResult(
        new.path,
        new,
        False,
        fetched.source,
        fetched.transferred,
        time.monotonic() - t0,
        repaired=True,
        replaced=replaced,
    )


def _repair(
    store: Store,
    artifact: Artifact,
    damaged: tuple[Entry, list[FileProblem]],
    sources: list[Source],
    opts: DownloadOptions,
    settings: Settings,
    pin: _Pin | None = None,
) -> tuple[Any, Entry, tuple[str, ...]]:
    """(what was fetched, the installed entry, the replaced files)."""
    entry, problems = damaged
    key = entry.key
    m = entry.manifest
    bad = sorted({p.path for p in problems})
    records = {f.path: f for f in m.files}
    fetched = None
    only_bad = False
    hf = next((s for s in sources if s.kind == "hf"), None)
    if m.kind == "hf" and m.commit and hf is not None and all(b in records for b in bad):
        try:
            from modelhub.registry.fetch.sources.hf import fetch_hf_files

            fetched = fetch_hf_files(store, key, hf, m.commit, bad, endpoint=settings.hf_endpoint)
            only_bad = True
        except ModelhubError as exc:
            log.warning("%s: fetching only the bad files failed (%s); fetching it all", key, exc)
    if fetched is None:
        fetched = _fetch_any(store, artifact, key, sources, opts, settings, pin)
    got = {f.path: f for f in fetched.files}
    if any(b not in got or got[b].sha256 != records[b].sha256 for b in bad if b in records):
        if only_bad:
            shutil.rmtree(fetched.staged, ignore_errors=True)
            raise IntegrityError(
                f"{artifact.name}: the source no longer serves the files recorded in "
                f"{entry.dir / 'manifest.json'}; remove the entry and pull it again",
                artifact=artifact.name,
            )
        # The source changed: the fresh copy replaces the entry as a whole.
        new = store.install(key, fetched.staged, _manifest_for(key, fetched, artifact))
        return fetched, new, tuple(sorted(records))
    staged = store.staging_dir(key)
    try:
        for f in m.files:
            dst = staged / f.path
            dst.parent.mkdir(parents=True, exist_ok=True)
            if f.path in bad:
                os.rename(fetched.staged / f.path, dst)
            else:
                _link_or_copy(entry.path / f.path, dst)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(fetched.staged, ignore_errors=True)
    files = tuple(FileRecord(f.path, f.size, f.sha256) for f in m.files)
    manifest = Manifest(
        key=key,
        content="",
        files=files,
        kind=m.kind,
        source=fetched.source.to_dict(),
        download=m.download,
        commit=m.commit,
        artifact=m.artifact or artifact.to_dict(),
    )
    new = store.install(key, staged, manifest)
    return fetched, new, tuple(bad)


def _link_or_copy(src: Path, dst: Path) -> None:
    # A hard link keeps the good file's bytes and inode: readers of the old
    # directory and the new one share it, nothing is copied.
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def repairer_for(
    settings: Settings | None = None,
) -> Callable[[Entry, list[FileProblem]], PullResult]:
    """:func:`repair_entry` bound to ``settings``: what
    :func:`modelhub.registry.store.integrity.verify` calls on a damaged entry."""

    def repair(entry: Entry, problems: list[FileProblem]) -> PullResult:
        return repair_entry(entry, problems, settings=settings)

    return repair
