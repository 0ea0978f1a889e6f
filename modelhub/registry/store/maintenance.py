"""Cache maintenance without the network: verify (and repair), prune,
remove, clear, pin.

Safety rules, all enforced here:

* an entry in use (a process holds its shared lease, see
  :meth:`Store.lease`) is skipped and reported, never removed: removal takes
  the lease exclusively and without waiting;
* removal renames first (into ``trash/``), then deletes, so a reader sees
  the entry or nothing;
* links are never followed (a link is removed as a link), and a directory
  without the cache marker is refused (:func:`open_store`);
* partial downloads and staging directories that a live process is writing
  (its flock is held) are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.config import Settings
from modelhub.errors import CacheError
from modelhub.registry.store.inventory import (
    DAY,
    CacheEntry,
    Inventory,
    Leftover,
    open_store,
    scan,
    select,
)
from modelhub.registry.store.layout import delete_path
from modelhub.registry.store.store import Store

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Removal:
    """Something removed (or, on a dry run, that would be): ``kind`` is
    ``"entry"`` or a :class:`Leftover` kind; ``reason`` why it goes."""

    kind: str
    path: Path
    size: int
    reason: str
    key: str | None = None
    name: str | None = None
    language: str | None = None
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "language": self.language,
            "version": self.version,
            "path": str(self.path),
            "size": self.size,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something that matched but was kept: ``reason`` is ``"in use"``,
    ``"being written"`` or ``"pinned"``."""

    kind: str
    path: Path
    size: int
    reason: str
    key: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "path": str(self.path),
            "size": self.size,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RemovalReport:
    """What prune, rm or clear planned, removed and skipped."""

    action: str
    dry_run: bool
    planned: tuple[Removal, ...] = ()
    removed: tuple[Removal, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def would_free(self) -> int:
        return sum(r.size for r in self.planned)

    @property
    def freed(self) -> int:
        return sum(r.size for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "would_free": self.would_free,
            "freed": self.freed,
            "planned": [r.to_dict() for r in self.planned],
            "removed": [r.to_dict() for r in self.removed],
            "skipped": [s.to_dict() for s in self.skipped],
            "errors": list(self.errors),
        }


# --------------------------------------------------------------------------- selection


# --------------------------------------------------------------------------- verify


# --------------------------------------------------------------------------- removal


def _removal(row: CacheEntry, reason: str) -> Removal:
    return Removal(
        "entry",
        row.path.parent if row.path else Path(row.key),
        row.size,
        reason,
        row.key,
        row.name,
        row.language,
        row.version,
    )


def _leftover_removal(x: Leftover, reason: str) -> Removal:
    return Removal(x.kind, x.path, x.size, reason, x.key)


def housekeeping(
    inv: Inventory, *, now: float, min_age: float
) -> tuple[list[tuple[Removal, Leftover]], list[Skipped]]:
    """Leftovers to remove: partials and staging/entry directories no live
    process is writing and older than ``min_age``; trash, stale content and
    stray links at any age."""
    plan: list[tuple[Removal, Leftover]] = []
    skipped: list[Skipped] = []
    for x in inv.leftovers:
        if x.busy:
            skipped.append(Skipped(x.kind, x.path, x.size, "being written", x.key))
            continue
        age = now - x.mtime
        if x.kind in ("partial", "staging", "no_manifest"):
            if age < min_age:
                continue
            what = {
                "partial": "partial download",
                "staging": "orphaned temporary files",
                "no_manifest": "entry that never completed",
            }[x.kind]
            reason = what if min_age <= 0 else f"{what} older than {_age(min_age)}"
        elif x.kind == "stale_content":
            reason = "old files of a replaced entry"
        elif x.kind == "trash":
            reason = "left in trash"
        else:
            reason = "symbolic link (the link only)"
        plan.append((_leftover_removal(x, reason), x))
    return plan, skipped


def _age(seconds: float) -> str:
    for unit, n in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)}{unit}"
    return f"{seconds:g}s"


def _execute(
    store: Store,
    action: str,
    entries: list[tuple[Removal, CacheEntry]],
    leftovers: list[tuple[Removal, Leftover]],
    skipped: list[Skipped],
    dry_run: bool,
) -> RemovalReport:
    planned: list[Removal] = []
    removed: list[Removal] = []
    errors: list[str] = []
    for rem, row in entries:
        ex = store.try_exclusive(row.key)
        if ex is None:
            skipped.append(Skipped("entry", rem.path, rem.size, "in use", row.key, row.name))
            continue
        detached = None
        with ex:
            planned.append(rem)
            if dry_run:
                continue
            try:
                current = store.lookup(row.key)
                if current is None or (row.path and current.path != row.path):
                    continue  # changed meanwhile: leave the decision to the next run
                detached = store.detach(row.key)
            except OSError as exc:
                errors.append(f"{rem.path}: {exc}")
        if detached is not None:
            # Out of sight already; deleting after the lease is released
            # keeps a loader waiting for this key from waiting on the rmtree.
            delete_path(detached)
            removed.append(rem)
    for rem, x in leftovers:
        if x.kind == "stale_content" and x.key is not None and store.in_use(x.key):
            skipped.append(Skipped(x.kind, x.path, x.size, "in use", x.key))
            continue
        planned.append(rem)
        if dry_run:
            continue
        try:
            if _remove_leftover(store, x):
                removed.append(rem)
            else:
                planned.pop()
                skipped.append(Skipped(x.kind, x.path, x.size, "being written", x.key))
        except (OSError, CacheError) as exc:
            errors.append(f"{x.path}: {exc}")
    return RemovalReport(
        action, dry_run, tuple(planned), tuple(removed), tuple(skipped), tuple(errors)
    )


def _remove_leftover(store: Store, x: Leftover) -> bool:
    if x.kind == "link":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(x.path)
        return True
    if x.kind == "partial":
        try:
            fd = os.open(x.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            # Only a regular file is a partial (scan classes nothing else as one).
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(f"{x.path} is not a regular file")
            # Held while we unlink: a writer cannot adopt it meanwhile.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        try:
            for p in (x.path, x.path.with_suffix(".json")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            x.path.parent.rmdir()  # only when empty
        return True
    if x.kind == "stale_content":
        ex = store.try_exclusive(x.key) if x.key else None
        if ex is None:
            return False
        with ex:
            store.discard(x.path)
        return True
    if x.kind in ("staging", "no_manifest") and x.entry_id is not None:
        from modelhub.registry.store.inventory import downloading

        if downloading(store, x.entry_id):
            return False
    store.discard(x.path)
    return True


def prune(
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    keep_pinned: bool = True,
    superseded: bool = False,
    dry_run: bool = False,
    now: float | None = None,
    leftovers_older_than: float = DAY,
    settings: Settings | None = None,
) -> RemovalReport:
    """Removes entries by modelhub's own last-used record (least recently
    used first): those unused for ``older_than`` seconds, those superseded
    by a newer cached version (``superseded``), then more until the entries
    fit in ``max_size`` bytes.  Always removes partial downloads and orphaned
    temporary files older than ``leftovers_older_than`` (a day).  Pinned
    entries are kept unless ``keep_pinned=False``; entries in use are
    skipped and reported."""
    store = open_store(settings)
    now = time.time() if now is None else now
    inv = scan(store=store, check=False)
    chosen: dict[str, tuple[Removal, CacheEntry]] = {}
    skipped: list[Skipped] = []
    candidates = []
    for row in inv.entries:
        if row.pinned and keep_pinned:
            if (older_than is not None and now - row.lru_time > older_than) or (
                superseded and row.superseded_by
            ):
                path = row.path.parent if row.path else Path()
                skipped.append(Skipped("entry", path, row.size, "pinned", row.key, row.name))
            continue
        candidates.append(row)
    for row in candidates:
        if superseded and row.superseded_by:
            chosen[row.key] = (_removal(row, f"superseded by {row.superseded_by}"), row)
        elif older_than is not None and now - row.lru_time > older_than:
            days = (now - row.lru_time) / DAY
            chosen[row.key] = (_removal(row, f"unused for {days:.0f} days"), row)
    if max_size is not None:
        total = sum(r.size for r in inv.entries if r.key not in chosen)
        for row in sorted(candidates, key=lambda r: r.lru_time):
            if total <= max_size:
                break
            if row.key in chosen:
                continue
            if store.in_use(row.key):
                continue  # reported by _execute, which tries it again
            chosen[row.key] = (_removal(row, f"over the size limit ({max_size} bytes)"), row)
            total -= row.size
        if total > max_size:
            # Entries in use still count: tell the user what kept the cache over the limit.
            for row in sorted(candidates, key=lambda r: r.lru_time):
                if row.key not in chosen and store.in_use(row.key):
                    path = row.path.parent if row.path else Path()
                    skipped.append(Skipped("entry", path, row.size, "in use", row.key, row.name))
    plan, skip2 = housekeeping(inv, now=now, min_age=leftovers_older_than)
    return _execute(store, "prune", list(chosen.values()), plan, skipped + skip2, dry_run)


def remove(
    name: str,
    lang: str | None = None,
    *,
    version: str | None = None,
    all_versions: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> RemovalReport:
    """Removes the cached entries of model ``name`` (or a cache key), in
    ``lang`` when given.  When several versions are cached, ``version`` picks
    one or ``all_versions`` takes them all; otherwise :class:`CacheError`
    lists them.  Pinned entries are removed too (the user named them);
    entries in use are skipped and reported."""
    store = open_store(settings)
    inv = scan(store=store, check=False)
    rows = select(inv.entries, [name], lang=lang, version=version)
    if version is None and not all_versions:
        groups = {(r.name, r.language) for r in rows}
        if len(rows) > 1:
            listed = ", ".join(f"{r.name} {r.language or 'xx'} {r.version or r.key}" for r in rows)
            what = "versions" if len(groups) == 1 else "entries"
            raise CacheError(
                f"{len(rows)} cached {what} match {name!r}: {listed}; pass --lang, "
                "--version V or --all-versions"
            )
    plan = [(_removal(r, "requested"), r) for r in rows]
    return _execute(store, "rm", plan, [], [], dry_run)


def clear(*, dry_run: bool = False, settings: Settings | None = None) -> RemovalReport:
    """Removes every entry (pinned ones too) and every leftover, except what
    is in use or being written.  The catalog index and lock files stay."""
    store = open_store(settings)
    inv = scan(store=store, check=False)
    plan = [(_removal(r, "clear"), r) for r in inv.entries]
    left, skipped = housekeeping(inv, now=time.time(), min_age=0.0)
    return _execute(store, "clear", plan, left, skipped, dry_run)


def set_pinned(
    name: str,
    pinned: bool = True,
    *,
    lang: str | None = None,
    version: str | None = None,
    settings: Settings | None = None,
) -> list[CacheEntry]:
    """Pins (or unpins) every cached entry of ``name`` matching ``lang`` and
    ``version``; returns them with their new state."""
    from dataclasses import replace

    store = open_store(settings)
    inv = scan(store=store, check=False)
    rows = select(inv.entries, [name], lang=lang, version=version)
    out = []
    for r in rows:
        if store.set_pinned(r.key, pinned):
            out.append(replace(r, pinned=pinned))
    return out


__all__ = [
    "Removal",
    "RemovalReport",
    "Skipped",
    "clear",
    "prune",
    "remove",
    "set_pinned",
]
