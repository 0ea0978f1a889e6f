"""The cache as a Python API: what is there, is it intact, what can go.

Everything works offline and returns typed, frozen results::

    import modelhub.cache as cache

    for e in cache.entries(sort="size"):
        print(e.name, e.language, e.version, e.size, e.status)
    report = cache.verify("ner_dl", repair=True)
    cache.prune(older_than="30d", max_size="20GB", dry_run=True).would_free
    cache.remove("ner_dl", "en", all_versions=True)

Entries in use by another process (any ``modelhub.pretrained`` model still
alive holds a shared lease on its entry) are never removed: they come back
in ``RemovalReport.skipped`` with the reason ``"in use"``.  A directory
without the ``.modelhub-cache`` marker is refused with :class:`CacheError`.

Sizes accept ``"20GB"``, ``"500MiB"``, ``"1.5T"`` or a number of bytes
(binary units, as ``cache ls`` prints them: 1 GB = 1024**3 bytes); durations
``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"`` or a number of seconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.config import Settings

if TYPE_CHECKING:
    from modelhub.registry.store.integrity import VerifyReport
    from modelhub.registry.store.inventory import CacheEntry, Inventory
    from modelhub.registry.store.maintenance import RemovalReport
    from modelhub.registry.store.usage import DiskUsage, Totals

SORT_KEYS = ("name", "size", "last-used")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(value: int | float | str) -> int:
    """Bytes from ``"20GB"``, ``"20G"``, ``"500MiB"``, ``"0"`` or a number."""
    if isinstance(value, int | float):
        return int(value)
    m = _SIZE.match(value)
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 20GB, 500MB, 0)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_duration(value: int | float | str, *, bare: str = "s") -> float:
    """Seconds from ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``; a
    bare number is in ``bare`` units."""
    if isinstance(value, int | float):
        return float(value) * _SECONDS[bare]
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30d, 12h, 90m)")
    return float(m.group(1)) * _SECONDS[(m.group(2) or bare).lower()]


def cache_dir(settings: Settings | None = None) -> Path:
    """The cache root (``MODELHUB_CACHE``, else the user cache directory)."""
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return Path(settings.cache_dir).expanduser()


def inventory(*, check: bool = True, settings: Settings | None = None) -> Inventory:
    """Everything in the cache: entries, unfinished downloads, leftovers."""
    from modelhub.registry.store.inventory import scan

    return scan(settings, check=check)


def entries(
    *,
    sort: str = "name",
    filter: str | None = None,
    check: bool = True,
    settings: Settings | None = None,
) -> list[CacheEntry]:
    """Complete entries (sizes and stamps checked when ``check``), sorted
    by ``"name"``, ``"size"`` (largest first) or ``"last-used"`` (most
    recent first, never used last); ``filter`` keeps entries whose name, key, language,
    engine or source contains it (case-insensitive)."""
    inv = inventory(check=check, settings=settings)
    return sort_rows(filter_rows(inv.entries, filter), sort)


def filter_rows(rows: Any, text: str | None) -> list[CacheEntry]:
    if not text:
        return list(rows)
    t = text.lower()
    return [
        r
        for r in rows
        if any(t in (v or "").lower() for v in (r.name, r.key, r.language, r.engine, r.source))
    ]


def sort_rows(rows: Any, sort: str) -> list[CacheEntry]:
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
    rows = list(rows)
    if sort == "size":
        return sorted(rows, key=lambda r: (-r.size, r.name))
    if sort == "last-used":
        # never used (no record) last
        return sorted(rows, key=lambda r: (r.last_used is None, -(r.last_used or 0.0), r.name))
    return sorted(rows, key=lambda r: (r.name, r.language or "", r.version or "", r.key))


def totals(*, settings: Settings | None = None) -> Totals:
    from modelhub.registry.store.usage import totals as _totals

    return _totals(inventory(check=False, settings=settings))


def du(*, settings: Settings | None = None) -> DiskUsage:
    """Total bytes, per source, per model, and what could be reclaimed."""
    from modelhub.registry.store.usage import disk_usage

    return disk_usage(inventory(check=False, settings=settings))


def verify(
    *names: str,
    lang: str | None = None,
    version: str | None = None,
    repair: bool = False,
    workers: int | None = None,
    settings: Settings | None = None,
) -> VerifyReport:
    """Re-hashes the named entries (all when no name) against their
    manifests without the network; ``repair`` fetches the bad files again."""
    from modelhub.registry.store.integrity import verify as _verify

    repairer = None
    if repair:
        from modelhub.registry.repair import repairer_for

        repairer = repairer_for(settings)
    return _verify(
        names, lang=lang, version=version, repair=repairer, workers=workers, settings=settings
    )


def prune(
    *,
    older_than: float | str | None = None,
    max_size: int | str | None = None,
    keep_pinned: bool = True,
    superseded: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> RemovalReport:
    """Least recently used first (modelhub's own record, not atime): entries
    unused for ``older_than``, superseded versions, then more until the
    cache fits ``max_size``; plus partial downloads and orphaned temporary
    files older than a day."""
    from modelhub.registry.store.maintenance import prune as _prune

    return _prune(
        older_than=None if older_than is None else parse_duration(older_than),
        max_size=None if max_size is None else parse_size(max_size),
        keep_pinned=keep_pinned,
        superseded=superseded,
        dry_run=dry_run,
        settings=settings,
    )


def remove(
    name: str,
    lang: str | None = None,
    *,
    version: str | None = None,
    all_versions: bool = False,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> RemovalReport:
    """Removes the entries of model ``name`` (``version`` or ``all_versions``
    when several are cached)."""
    from modelhub.registry.store.maintenance import remove as _remove

    return _remove(
        name, lang, version=version, all_versions=all_versions, dry_run=dry_run, settings=settings
    )


def clear(*, dry_run: bool = False, settings: Settings | None = None) -> RemovalReport:
    """Removes every entry and leftover that is not in use."""
    from modelhub.registry.store.maintenance import clear as _clear

    return _clear(dry_run=dry_run, settings=settings)


def pin(
    name: str,
    lang: str | None = None,
    *,
    version: str | None = None,
    settings: Settings | None = None,
) -> list[CacheEntry]:
    """Pins the matching entries: prune keeps them and pulls never go online for them."""
    from modelhub.registry.store.maintenance import set_pinned

    return set_pinned(name, True, lang=lang, version=version, settings=settings)


def unpin(
    name: str,
    lang: str | None = None,
    *,
    version: str | None = None,
    settings: Settings | None = None,
) -> list[CacheEntry]:
    from modelhub.registry.store.maintenance import set_pinned

    return set_pinned(name, False, lang=lang, version=version, settings=settings)


_TYPES = {
    "CacheEntry": "modelhub.registry.store.inventory",
    "DiskUsage": "modelhub.registry.store.usage",
    "Inventory": "modelhub.registry.store.inventory",
    "Leftover": "modelhub.registry.store.inventory",
    "ModelUsage": "modelhub.registry.store.usage",
    "Totals": "modelhub.registry.store.usage",
    "Removal": "modelhub.registry.store.maintenance",
    "RemovalReport": "modelhub.registry.store.maintenance",
    "Skipped": "modelhub.registry.store.maintenance",
    "VerifyReport": "modelhub.registry.store.integrity",
    "VerifyResult": "modelhub.registry.store.integrity",
    "FileProblem": "modelhub.registry.store.manifest",
}


def __getattr__(name: str) -> Any:
    if name in _TYPES:
        import importlib

        value = getattr(importlib.import_module(_TYPES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelhub.cache' has no attribute {name!r}")


__all__ = [
    "SORT_KEYS",
    "cache_dir",
    "clear",
    "du",
    "entries",
    "inventory",
    "parse_duration",
    "parse_size",
    "pin",
    "prune",
    "remove",
    "totals",
    "unpin",
    "verify",
    *_TYPES,
]
