"""Summaries of an :class:`~modelhub.registry.store.inventory.Inventory`:
totals by status and disk usage by model (``modelhub cache ls --summary``,
``modelhub cache du``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.registry.store.inventory import Inventory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Totals:
    entries: int
    size: int
    pinned: int
    partials: int
    partials_size: int
    orphans: int
    orphans_size: int
    unknown: int = 0
    unknown_size: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "size": self.size,
            "pinned": self.pinned,
            "partials": self.partials,
            "partials_size": self.partials_size,
            "orphans": self.orphans,
            "orphans_size": self.orphans_size,
            "unknown": self.unknown,
            "unknown_size": self.unknown_size,
        }


def totals(inv: Inventory) -> Totals:
    partials = inv.partials
    orphans = inv.orphans
    return Totals(
        entries=len(inv.entries),
        size=sum(e.size for e in inv.entries),
        pinned=sum(1 for e in inv.entries if e.pinned),
        partials=len(partials),
        partials_size=sum(x.size for x in partials),
        orphans=len(orphans),
        orphans_size=sum(x.size for x in orphans),
        unknown=len(inv.unknown),
        unknown_size=sum(x.size for x in inv.unknown),
    )


@dataclass(frozen=True, slots=True)
class ModelUsage:
    name: str
    language: str | None
    versions: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "versions": self.versions,
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """``modelhub cache du``: bytes in total, per source kind, per model, and
    what could be reclaimed (partials, orphans, superseded versions not pinned)."""

    root: Path
    total: int
    entries: int
    catalog: int
    per_source: dict[str, int] = field(default_factory=dict)
    per_model: tuple[ModelUsage, ...] = ()
    partials: int = 0
    orphans: int = 0
    superseded: int = 0

    @property
    def reclaimable(self) -> int:
        return self.partials + self.orphans + self.superseded

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "total": self.total,
            "entries": self.entries,
            "catalog": self.catalog,
            "per_source": dict(self.per_source),
            "per_model": [m.to_dict() for m in self.per_model],
            "reclaimable": {
                "partials": self.partials,
                "orphans": self.orphans,
                "superseded": self.superseded,
                "total": self.reclaimable,
            },
        }


def disk_usage(inv: Inventory) -> DiskUsage:
    per_source: dict[str, int] = {}
    per_model: dict[tuple[str, str | None], list[int]] = {}
    for e in inv.entries:
        per_source[e.source or "unknown"] = per_source.get(e.source or "unknown", 0) + e.size
        per_model.setdefault((e.name, e.language), []).append(e.size)
    models = sorted(
        (ModelUsage(n, lang, len(s), sum(s)) for (n, lang), s in per_model.items()),
        key=lambda m: (-m.size, m.name),
    )
    t = totals(inv)
    superseded = sum(e.size for e in inv.entries if e.superseded_by and not e.pinned)
    return DiskUsage(
        root=inv.root,
        total=t.size + t.partials_size + t.orphans_size + inv.catalog_size,
        entries=t.size,
        catalog=inv.catalog_size,
        per_source=dict(sorted(per_source.items(), key=lambda kv: -kv[1])),
        per_model=tuple(models),
        partials=t.partials_size,
        orphans=t.orphans_size,
        superseded=superseded,
    )
