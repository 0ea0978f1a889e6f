"""Repair: re-fetches the bad files of a damaged cache entry and installs a
new content directory made of the good files (hard links) and the
replacements.  Used by ``pull`` (a damaged entry) and by
``cache verify --repair`` (through :func:`repairer_for`)."""

from __future__ import annotations

import logging
import os
import shutil
import stat
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
from modelhub.registry.files import FILE_MODE
from modelhub.registry.results import PullResult, _manifest_for
from modelhub.registry.store.manifest import Entry, FileProblem, FileRecord, Manifest, safe_relpath
from modelhub.registry.store.store import Store

log = logging.getLogger(__name__)


def artifact_for_entry(entry: Entry, settings: Settings) -> Artifact:
    """The artifact ``entry`` holds, as the catalog describes it today: its
    sources are the catalog's, never those recorded in the manifest (anyone
    who can write the cache could point those at ``file:///`` a private
    folder).  The manifest only names what to look up: the catalog record
    must give exactly the entry's key, else there is nothing trusted to
    repair from."""
    from modelhub.registry.catalog.catalog import load_catalog

    record = (entry.manifest.artifact or {}).get("record")
    name = record.get("name") if isinstance(record, dict) else None
    language = record.get("language") if isinstance(record, dict) else None
    if isinstance(name, str) and 0 < len(name) <= 512:
        catalog = load_catalog(settings)
        for rec in catalog.records_for(name):
            art = catalog.artifact(rec)
            if art.key == entry.key:
                return art
    raise ModelNotFound(
        f"{entry.key}: the catalog lists no artifact with this key, so there is no trusted "
        "source to repair it from (sources recorded in a manifest are never used); remove it "
        "(`modelhub cache rm`) and pull the model again",
        name=name if isinstance(name, str) else entry.key,
        language=language if isinstance(language, str) else None,
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
    artifact = artifact_for_entry(entry, settings)
    store = Store.from_settings(settings)
    t0 = time.monotonic()
    sources = ordered_sources(artifact, settings)
    if not sources:
        raise ModelNotFound(
            f"{artifact.name} [{entry.key}]: the catalog gives no source to repair it from",
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

            fetched = fetch_hf_files(
                store, key, hf, m.commit, bad, endpoint=settings.hf_endpoint, opts=opts
            )
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
            # Validated when the manifest was read; checked again because a
            # Manifest can also be built in code.
            dst = staged / safe_relpath(f.path)
            _mkdirs_nofollow(staged, dst.parent)
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


def _mkdirs_nofollow(base: Path, d: Path) -> None:
    """Creates ``d`` under ``base`` part by part, refusing any part that is
    a link (the staging directory is ours, so none should be)."""
    cur = base
    for part in d.relative_to(base).parts:
        cur = cur / part
        try:
            cur.mkdir(mode=0o755)
        except FileExistsError:
            if cur.is_symlink() or not cur.is_dir():
                raise IntegrityError(f"{cur} is not a directory modelhub made") from None


def _link_or_copy(src: Path, dst: Path) -> None:
    # A hard link keeps the good file's bytes and inode: readers of the old
    # directory and the new one share it, nothing is copied.  Neither side
    # is ever followed: a link where a file should be is damage, and the
    # copy is created new (O_EXCL | O_NOFOLLOW), never written through.
    try:
        os.link(src, dst, follow_symlinks=False)
        return
    except OSError:
        pass
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fin).st_mode):
            raise IntegrityError(f"{src} is not a regular file")
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            while chunk := os.read(fin, 1 << 20):
                os.write(fout, chunk)
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def repairer_for(
    settings: Settings | None = None,
) -> Callable[[Entry, list[FileProblem]], PullResult]:
    """:func:`repair_entry` bound to ``settings``: what
    :func:`modelhub.registry.store.integrity.verify` calls on a damaged entry."""

    def repair(entry: Entry, problems: list[FileProblem]) -> PullResult:
        return repair_entry(entry, problems, settings=settings)

    return repair
