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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.errors import (
    AccessDenied,
    CacheError,
    ConfigError,
    FetchError,
    IntegrityError,
    ModelhubError,
    ModelNotFound,
    NotCachedError,
)
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.download import DownloadOptions, RetryPolicy
from modelhub.registry.store import (
    DEFAULT_STALE_AFTER,
    Entry,
    EntryLease,
    FileProblem,
    FileRecord,
    Manifest,
    Store,
)

if TYPE_CHECKING:
    from modelhub.registry.archive import ExtractLimits
    from modelhub.registry.store import ArtifactLock

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
    replaced: tuple[str, ...] = ()  # on a repair: the files that were bad and replaced

    def to_dict(self) -> dict[str, Any]:
        m = self.entry.manifest
        return {
            "key": self.entry.key,
            "path": str(self.path),
            "cache_hit": self.cache_hit,
            "repaired": self.repaired,
            "replaced": list(self.replaced),
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
    """A positive number from the variable ``env``, else the config file's
    ``key``, else ``default``; anything else is a ConfigError naming both."""
    raw = os.environ.get(env, "").strip() or settings.extra.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{env} ({key}) = {raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{env} ({key}) = {raw!r} must be more than 0")
    return value


def _download_options(
    settings: Any,
    store: Store,
    lock: ArtifactLock,
    bar: _Bar,
    retry: RetryPolicy | None,
    connections: int | None = None,
) -> DownloadOptions:
    return DownloadOptions(
        connections=int(
            connections or _num(settings, "download_connections", "MODELHUB_CONNECTIONS", 8)
        ),
        chunk=int(_num(settings, "download_chunk_mb", "MODELHUB_CHUNK_MB", 16) * (1 << 20)),
        policy=retry or RetryPolicy.from_env(),
        progress=bar,
        heartbeat=lock.beat,
        flush_during=store.fsync,
    )


def extract_limits(settings: Any) -> ExtractLimits:
    """The zip-bomb caps: :class:`ExtractLimits` defaults, raised or lowered
    by ``MODELHUB_EXTRACT_MAX_GB`` / ``extract_max_gb`` (uncompressed bytes),
    ``MODELHUB_EXTRACT_MAX_FILES`` / ``extract_max_files`` and
    ``MODELHUB_EXTRACT_MAX_RATIO`` / ``extract_max_ratio``."""
    from modelhub.registry.archive import ExtractLimits

    defaults = ExtractLimits()
    return ExtractLimits(
        max_total=int(
            _num(settings, "extract_max_gb", "MODELHUB_EXTRACT_MAX_GB", defaults.max_total / 2**30)
            * 2**30
        ),
        max_members=int(
            _num(settings, "extract_max_files", "MODELHUB_EXTRACT_MAX_FILES", defaults.max_members)
        ),
        max_ratio=_num(
            settings, "extract_max_ratio", "MODELHUB_EXTRACT_MAX_RATIO", defaults.max_ratio
        ),
        ratio_floor=defaults.ratio_floor,
    )


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
    out: list[Source] = [Source("mirror", m) for m in settings.mirrors]
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
    commit: str | None = None,
    expected_files: Iterable[FileRecord] | None = None,
) -> PullResult:
    """:func:`pull_artifact` with details: cache hit or download, source, bytes.

    For a lock (:func:`modelhub.registry.mirror.pull_locked`): ``commit``
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

    bad_content: str | None = None
    damaged: tuple[Entry, list[FileProblem]] | None = None
    entry = store.lookup(key)
    if entry is not None:
        problems = entry.verify() if verify else entry.quick_check()
        if problems:
            damaged = (entry, problems)
        else:
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
        opts = _download_options(settings, store, lock, bar, retry, connections)
        replaced: tuple[str, ...] = ()
        pin = _Pin(commit, None if expected_files is None else tuple(expected_files))
        if damaged is not None:
            fetched, entry, replaced = _repair(
                store, artifact, damaged, sources, opts, settings, pin
            )
        else:
            fetched = _fetch_any(store, artifact, key, sources, opts, settings, pin)
            entry = store.install(key, fetched.staged, _manifest_for(key, fetched, artifact))
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
        replaced=replaced,
    )


def _manifest_for(key: str, fetched: Any, artifact: Artifact) -> Manifest:
    return Manifest(
        key=key,
        content="",
        files=tuple(fetched.files),
        kind=fetched.kind,
        source=fetched.source.to_dict(),
        download=fetched.download,
        commit=fetched.commit,
        artifact=artifact.to_dict(),
    )


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
    settings: Any = None,
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
    settings: Any,
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
            fetched = _fetch_hf_files(store, key, hf, m.commit, bad)
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


def _fetch_hf_files(store: Store, key: str, src: Source, commit: str, paths: list[str]) -> Any:
    """Only ``paths`` of a Hugging Face repo at ``commit``, into a staging
    directory (checked against the manifest by the caller)."""
    from modelhub.registry.sources import Fetched
    from modelhub.registry.sources.hf import _map_error
    from modelhub.registry.verify import sha256_file

    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    staged = store.staging_dir(key)
    files: list[FileRecord] = []
    try:
        from huggingface_hub import hf_hub_download

        for rel in paths:
            try:
                hf_hub_download(
                    src.location, rel, revision=commit, local_dir=staged, endpoint=endpoint
                )
            except Exception as exc:
                mapped = _map_error(exc, src.location, commit, endpoint)
                if mapped is exc:
                    raise
                raise mapped from exc
            digest, size = sha256_file(staged / rel)
            files.append(FileRecord(rel, size, digest))
        shutil.rmtree(staged / ".cache", ignore_errors=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    total = sum(f.size for f in files)
    return Fetched(
        staged,
        files,
        "hf",
        src,
        {"url": f"{endpoint}/{src.location}", "revision": commit, "size": total},
        commit=commit,
        transferred=total,
    )


def pull_leased(
    artifact: Artifact, *, offline: bool | None = None, settings: Any = None, **options: Any
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
            f"{store.root} has {free} free; free some space or set MODELHUB_CACHE"
        )


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
    settings: Any,
    pin: _Pin | None = None,
) -> Any:
    from modelhub.registry.sources import FetchContext

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
            return pin.check(artifact, src, _fetch_one(ctx, pin.source(src), settings))
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
