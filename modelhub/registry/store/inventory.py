"""What is in the cache, read from disk without the network: one row per
entry, partial downloads and orphaned files, disk usage and what can be
reclaimed.

Everything here only reads.  A directory that lacks the cache marker is
refused (:func:`open_store`), and symbolic links are never followed: a link
found where modelhub keeps its own files is reported as an orphan (the link
itself, never its target).  Files modelhub never makes (a plain file where it
keeps entry or download directories, anything but ``*.part`` and sidecars in
a download directory) are reported as unknown and never offered for removal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.config import ENV, Settings
from modelhub.errors import CacheError
from modelhub.registry.files import atomic_write
from modelhub.registry.store.layout import MANIFEST_NAME, entry_id, not_a_cache
from modelhub.registry.store.manifest import Entry, FileProblem, load_manifest
from modelhub.registry.store.store import Store
from modelhub.saferead import read_json

log = logging.getLogger(__name__)

VERIFIED_NAME = "verified"  # entries/<id>/verified: the last full verification
DAY = 86400.0

STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete download"
STATUS_FAILED = "failed verification"
STATUS_DAMAGED = "damaged manifest"  # pull fetches it again; prune removes it


def open_store(settings: Settings | None = None, *, create: bool = False) -> Store:
    """The configured cache, refusing a directory that is not one.

    A root that exists without the ``.modelhub-cache`` marker (``/``, a home
    directory, any folder with files, even one whose folders happen to be
    called ``downloads`` or ``tmp``) is never read as a cache nor deleted
    from; nor is a cache whose own subdirectories are symbolic links.  Only
    an empty root, or what a first pull writes before the marker (see
    :meth:`Store.foreign_item`), passes without it: there is nothing to delete."""
    store = Store.from_settings(settings)
    root = store.root
    if os.path.lexists(root) and not store.has_marker():
        try:
            foreign = store.foreign_item()
        except OSError as exc:
            raise CacheError(f"cannot read the cache directory {root}: {exc}") from exc
        if foreign is None:
            if create:
                store.ensure_layout()
            return store
        if not store.has_marker():  # else a first pull wrote it meanwhile
            raise not_a_cache(root, foreign)
    for d in (store.entries_dir, store.downloads_dir, store.tmp_dir, store.trash_dir):
        if d.is_symlink():
            raise CacheError(
                f"{d} is a symbolic link: modelhub never follows links out of its cache; "
                f"remove the link or point {ENV['cache_dir']} at the real directory"
            )
    return store


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One row of ``modelhub cache ls``.

    ``status`` is ``"complete"``, ``"damaged manifest"`` (its manifest is
    unreadable or invalid: nothing in it is trusted; ``pull`` fetches the
    entry again), ``"incomplete download"`` (bytes of a
    download that has not finished; ``path`` is None) or ``"failed
    verification"`` (sizes or stamps differ from the manifest, or the last
    ``verify`` found a bad file).  ``size`` is bytes on disk; ``last_used``
    modelhub's own record (epoch seconds) or None."""

    key: str
    name: str
    language: str | None
    version: str | None
    source: str | None
    engine: str | None
    size: int
    files: int
    last_used: float | None
    created: float | None
    pinned: bool
    status: str
    path: Path | None
    location: str | None = None
    problems: tuple[FileProblem, ...] = ()
    superseded_by: str | None = None

    @property
    def lru_time(self) -> float:
        """When it was last used, or installed when there is no record."""
        return self.last_used if self.last_used is not None else (self.created or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "language": self.language,
            "version": self.version,
            "source": self.source,
            "location": self.location,
            "engine": self.engine,
            "size": self.size,
            "files": self.files,
            "last_used": self.last_used,
            "created": self.created,
            "pinned": self.pinned,
            "status": self.status,
            "path": str(self.path) if self.path else None,
            "problems": [
                {"path": p.path, "problem": p.problem, "expected": p.expected, "actual": p.actual}
                for p in self.problems
            ],
            "superseded_by": self.superseded_by,
        }


@dataclass(frozen=True, slots=True)
class Leftover:
    """Something on disk that is not a complete entry.

    ``kind``: ``"partial"`` (an unfinished download and its sidecar),
    ``"staging"`` (tmp/), ``"trash"``, ``"stale_content"`` (old files of an
    entry, kept while it was in use), ``"no_manifest"`` (an entry directory
    that never completed), ``"link"`` (a symbolic link where modelhub keeps
    its own files: only the link is ever removed), ``"unknown"`` (a file
    modelhub never makes: only in :attr:`Inventory.unknown`, never removed).
    ``busy`` is True while a live process is writing it; ``key`` names the
    entry it belongs to when known."""

    kind: str
    path: Path
    size: int
    mtime: float
    busy: bool = False
    key: str | None = None
    entry_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "size": self.size,
            "mtime": self.mtime,
            "busy": self.busy,
            "key": self.key,
        }


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything under the cache root, classified."""

    root: Path
    entries: tuple[CacheEntry, ...]
    # one row per unfinished download, and per entry with a damaged manifest
    incomplete: tuple[CacheEntry, ...]
    leftovers: tuple[Leftover, ...]
    catalog_size: int = 0
    exists: bool = True
    # Files modelhub never makes, found where it keeps its own: reported
    # (kind "unknown"), never removed, so apart from ``leftovers``.
    unknown: tuple[Leftover, ...] = ()

    @property
    def partials(self) -> tuple[Leftover, ...]:
        return tuple(x for x in self.leftovers if x.kind == "partial")

    @property
    def orphans(self) -> tuple[Leftover, ...]:
        return tuple(x for x in self.leftovers if x.kind != "partial")


# --------------------------------------------------------------------------- scanning


def tree_size(path: Path) -> int:
    """Bytes in the files under ``path`` (links counted as themselves, never followed)."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    stack = [str(path)]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _lock_free(path: Path) -> bool:
    """True when nobody holds a flock on ``path`` (or it does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's lock
    return True


def downloading(store: Store, eid: str) -> bool:
    """Whether a pull of entry ``eid`` holds its download lock right now."""
    return not _lock_free(store.locks_dir / f"{eid}.lock")


def _key_from_id(eid: str) -> str:
    slug = eid.rsplit("-", 1)[0]
    return slug.replace("--", "/")


def _version(record: dict[str, Any], manifest_commit: str | None) -> str | None:
    v = record.get("lib_version")
    if v:
        return str(v)
    if manifest_commit:
        return str(manifest_commit)[:12]
    ts = record.get("timestamp")
    return str(ts) if ts else None


def last_verification(entry: Entry) -> dict[str, Any] | None:
    """The last full verification of the entry's current files, or None."""
    try:
        data = read_json(entry.dir / VERIFIED_NAME, limit=1 << 20)
    except (OSError, ValueError):
        return None
    if data.get("content") != entry.manifest.content:
        return None
    return data


def record_verification(entry: Entry, problems: list[FileProblem]) -> None:
    """Remembers a failed verification (``ls`` shows it until the files
    change); a clean one only removes an old failure record, so verifying a
    healthy cache writes nothing."""
    path = entry.dir / VERIFIED_NAME
    if not problems:
        with contextlib.suppress(OSError):
            path.unlink()
        return
    data = {
        "t": time.time(),
        "content": entry.manifest.content,
        "ok": not problems,
        "problems": [{"path": p.path, "problem": p.problem} for p in problems],
    }
    with contextlib.suppress(OSError):
        atomic_write(path, json.dumps(data).encode(), fsync=False)


def entry_row(entry: Entry, *, check: bool = True) -> CacheEntry:
    m = entry.manifest
    record = (m.artifact or {}).get("record") or {}
    problems: list[FileProblem] = entry.quick_check() if check else []
    if check and not problems:
        last = last_verification(entry)
        if last is not None and not last.get("ok", True):
            problems = [
                FileProblem(str(p.get("path")), str(p.get("problem")))
                for p in last.get("problems", [])
                if isinstance(p, dict)
            ] or [FileProblem("?", "sha256")]
    return CacheEntry(
        key=entry.key,
        name=str(record.get("name") or entry.key),
        language=record.get("language"),
        version=_version(record, m.commit),
        source=m.source.get("kind"),
        location=m.source.get("location"),
        engine=record.get("engine"),
        size=m.size,
        files=len(m.files),
        last_used=entry.last_used,
        created=m.created or None,
        pinned=entry.pinned,
        status=STATUS_FAILED if problems else STATUS_COMPLETE,
        path=entry.path,
        problems=tuple(problems),
    )


def damaged_row(d: Path, why: str) -> CacheEntry:
    """The ``cache ls`` row of an entry whose manifest is damaged: nothing
    it says is trusted, so only its directory name is shown."""
    key = _key_from_id(d.name)
    return CacheEntry(
        key=key,
        name=os.path.basename(key),
        language=None,
        version=None,
        source=None,
        engine=None,
        size=tree_size(d),
        files=0,
        last_used=None,
        created=_mtime(d) or None,
        pinned=False,
        status=STATUS_DAMAGED,
        path=None,
        problems=(FileProblem(MANIFEST_NAME, "invalid manifest", None, why),),
    )


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _read_entry(store: Store, d: Path) -> Entry | str | None:
    """The entry in ``d``; None without a manifest; the reason when its
    manifest is damaged (unreadable, not a regular file, invalid)."""
    try:
        manifest = load_manifest(d)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return str(exc)
    return Entry(key=manifest.key, dir=d, manifest=manifest)


def scan(
    settings: Settings | None = None, *, store: Store | None = None, check: bool = True
) -> Inventory:
    """Reads the whole cache: complete entries (with a quick size-and-stamp
    check when ``check``), unfinished downloads and leftovers."""
    store = store or open_store(settings)
    if not store.root.is_dir():
        return Inventory(store.root, (), (), (), exists=False)
    found = _Found()
    _scan_entries(store, found, check)
    incomplete = _scan_downloads(store, found)
    _scan_staging_and_trash(store, found)
    rows = mark_superseded(found.rows)
    catalog = tree_size(store.root / "catalog")
    unknown = found.unknown
    if unknown:
        log.warning(
            "%d file(s) in %s were not made by modelhub and are left alone: %s",
            len(unknown),
            store.root,
            ", ".join(str(x.path) for x in unknown[:5]) + (", ..." if len(unknown) > 5 else ""),
        )
    return Inventory(
        store.root,
        tuple(rows),
        tuple(_incomplete_row(eid, parts) for eid, parts in sorted(incomplete.items()))
        + tuple(found.damaged),
        tuple(found.leftovers),
        catalog,
        unknown=tuple(unknown),
    )


@dataclass
class _Found:
    rows: list[CacheEntry] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    unknown: list[Leftover] = field(default_factory=list)
    complete_ids: set[str] = field(default_factory=set)
    damaged: list[CacheEntry] = field(default_factory=list)  # damaged manifests

    def foreign(self, path: Path) -> None:
        self.unknown.append(Leftover("unknown", path, tree_size(path), _mtime(path)))

    def link(self, path: Path, mtime: float | None = None) -> None:
        self.leftovers.append(Leftover("link", path, 0, _mtime(path) if mtime is None else mtime))


def _scan_entries(store: Store, found: _Found, check: bool) -> None:
    """``entries/``: complete entries, entries without a manifest, and
    content directories a newer install left behind."""
    for item in _scandir(store.entries_dir):
        path = Path(item.path)
        if item.is_symlink():
            found.link(path)
            continue
        if not item.is_dir(follow_symlinks=False):
            found.foreign(path)  # entries are directories: a plain file is someone else's
            continue
        entry = _read_entry(store, path)
        if isinstance(entry, str):
            found.damaged.append(damaged_row(path, entry))
            entry = None
        if entry is None:
            busy = downloading(store, item.name)
            found.leftovers.append(
                Leftover("no_manifest", path, tree_size(path), _mtime(path), busy, None, item.name)
            )
            continue
        found.complete_ids.add(item.name)
        found.rows.append(entry_row(entry, check=check))
        for sub in _scandir(path):
            if sub.name.startswith("c-") and sub.name != entry.manifest.content:
                p = Path(sub.path)
                found.leftovers.append(
                    Leftover(
                        "stale_content", p, tree_size(p), _mtime(p), False, entry.key, item.name
                    )
                )


def _scan_downloads(store: Store, found: _Found) -> dict[str, list[Leftover]]:
    """``downloads/<id>/``: partial files (and their sidecars); returns the
    partials of entries that are not complete, by entry id."""
    incomplete: dict[str, list[Leftover]] = {}
    for d in _scandir(store.downloads_dir):
        dpath = Path(d.path)
        if d.is_symlink():
            found.link(dpath)
            continue
        if not d.is_dir(follow_symlinks=False):
            found.foreign(dpath)  # partials live in downloads/<id>/: a file here is not one
            continue
        for f in _scandir(dpath):
            lo = _partial(f, d.name, found)
            if lo is not None:
                found.leftovers.append(lo)
                if d.name not in found.complete_ids:
                    incomplete.setdefault(d.name, []).append(lo)
    return incomplete


def _partial(f: os.DirEntry[str], eid: str, found: _Found) -> Leftover | None:
    p = Path(f.path)
    if not f.name.endswith(".part"):
        if not _partial_companion(f.name):
            found.foreign(p)
        return None
    try:
        st = f.stat(follow_symlinks=False)
    except OSError:
        return None
    if f.is_symlink():
        found.link(p, st.st_mtime)
        return None
    if not stat.S_ISREG(st.st_mode):
        found.unknown.append(Leftover("unknown", p, tree_size(p), st.st_mtime))
        return None
    busy = not _lock_free(p)
    return Leftover("partial", p, st.st_blocks * 512, st.st_mtime, busy, _key_from_id(eid), eid)


def _scan_staging_and_trash(store: Store, found: _Found) -> None:
    for kind, base in (("staging", store.tmp_dir), ("trash", store.trash_dir)):
        for item in _scandir(base):
            p = Path(item.path)
            eid = item.name.rsplit(".", 1)[0] if kind == "staging" else None
            busy = kind == "staging" and eid is not None and downloading(store, eid)
            if item.is_symlink():
                found.link(p)
            else:
                found.leftovers.append(Leftover(kind, p, tree_size(p), _mtime(p), busy, None, eid))


def _incomplete_row(eid: str, parts: list[Leftover]) -> CacheEntry:
    key = _key_from_id(eid)
    return CacheEntry(
        key=key,
        name=os.path.basename(key),
        language=None,
        version=None,
        source=None,
        engine=None,
        size=sum(x.size for x in parts),
        files=len(parts),
        last_used=None,
        created=max(x.mtime for x in parts),
        pinned=False,
        status=STATUS_INCOMPLETE,
        path=None,
    )


def _partial_companion(name: str) -> bool:
    """A sidecar (``<token>.json``) or an unfinished atomic write of one
    (``.<token>.json.<hex>.tmp``): modelhub's, so not reported as unknown;
    a sidecar goes with its partial, neither is ever removed alone."""
    return name.endswith(".json") or (name.startswith(".") and name.endswith(".tmp"))


def _scandir(path: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            items = list(it)
    except OSError:
        return
    items.sort(key=lambda e: e.name)
    yield from items


# --------------------------------------------------------------------------- versions


def version_order(row: CacheEntry, entry_record: dict[str, Any] | None = None) -> tuple:
    from modelhub.registry.versions import parse_version

    return (parse_version(row.version), row.created or 0.0)


def mark_superseded(rows: Iterable[CacheEntry]) -> list[CacheEntry]:
    """Sets ``superseded_by`` on every entry for which a newer version of the
    same name and language is cached (newer: higher library version, then
    installed later)."""
    from dataclasses import replace

    rows = list(rows)
    groups: dict[tuple[str, str | None], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r.name, r.language), []).append(i)
    for idx in groups.values():
        if len(idx) < 2:
            continue
        newest = max(idx, key=lambda i: version_order(rows[i]))
        label = rows[newest].version or rows[newest].key
        for i in idx:
            if i != newest:
                rows[i] = replace(rows[i], superseded_by=label)
    return rows


# --------------------------------------------------------------------------- du


def _matches_version(row: CacheEntry, version: str) -> bool:
    from modelhub.registry.versions import parse_version, same_version

    v = version.strip()
    if row.version and (row.version == v or row.version.startswith(v)):
        return True
    pv = parse_version(v)
    if pv and row.version and same_version(parse_version(row.version), pv):
        return True
    return v in row.key


def select(
    rows: Iterable[CacheEntry],
    names: Sequence[str],
    *,
    lang: str | None = None,
    version: str | None = None,
) -> list[CacheEntry]:
    """Entries whose model name (or cache key) is one of ``names``, in
    ``lang`` when given, of ``version`` when given."""
    wanted = set(names)
    out = []
    for r in rows:
        if wanted and not (r.name in wanted or r.key in wanted or entry_id(r.key) in wanted):
            continue
        if lang is not None and (r.language or "xx") != lang:
            continue
        if version is not None and not _matches_version(r, version):
            continue
        out.append(r)
    return out
