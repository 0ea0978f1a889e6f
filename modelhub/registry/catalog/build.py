"""Building the catalog index: cards and metadata.json lines merged into one
record per artifact, grouped and sorted for listing and resolution.

Only runs when an input changed (see :mod:`modelhub.registry.catalog.catalog`); the
warm path never imports this module.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelhub.cards.record import ModelCard
from modelhub.registry.catalog.index import (
    NAME_BUCKETS,
    name_bucket,
    norm_lang,
    norm_task,
    pick_rows,
    render_rows,
)
from modelhub.registry.catalog.metadata import MetadataLine
from modelhub.registry.catalog.search import word_text
from modelhub.registry.versions import format_version, parse_version

log = logging.getLogger(__name__)

DEFAULT_FOLDER = "public/models"
_DESCRIPTION_CHARS = 400

# Model-level fields a version without them takes from the newest version of
# the same model that has them (listing and search only; records stay as given).
_INHERITED = ("task", "title", "annotator", "tags")


@dataclass
class CardInput:
    card: ModelCard
    origin: str  # "card:<path>" or "bundled:<path>"


@dataclass
class MetadataInput:
    lines: list[MetadataLine]
    origin: str  # URL or path of the metadata.json copy
    bucket: str


def _bucket_of(card: ModelCard) -> str | None:
    for url in (card.s3_uri, card.download_url):
        if not url:
            continue
        if url.startswith("s3://"):
            rest = url[5:]
        elif "s3.amazonaws.com/" in url:
            rest = url.split("s3.amazonaws.com/", 1)[1]
        else:
            continue
        bucket = rest.split("/", 1)[0]
        if bucket:
            return bucket
    return None


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == () or value == ""


def card_key(card: ModelCard) -> str:
    """The merge identity of a card: ``{folder}/{artifact}`` for Spark NLP zips
    (the same key a metadata.json line gets), otherwise ``hf/{repo}@{rev}`` or
    ``{name}_{lang}`` (as :attr:`Artifact.key`)."""
    if card.artifact:
        return f"{card.folder or DEFAULT_FOLDER}/{card.artifact}"
    up = card.upstream
    if up is not None and up.kind == "huggingface" and up.repo:
        return f"hf/{up.repo}@{up.revision or 'main'}"
    return f"{card.name}_{card.language or 'xx'}"


def _merge_identity(card: ModelCard) -> Any:
    """Which cards describe the same record. A Spark NLP zip's name is in its
    file name, so its key alone identifies it; cards without one (a Hugging
    Face upstream, a package) may give several names to the same files: they
    share the cache key but stay separate records."""
    key = card_key(card)
    return key if card.artifact else (key, card.name, card.language)


def _date_of(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).date().isoformat()


def _record_from_card(card: ModelCard, origin: str) -> dict[str, Any]:
    data = card.to_dict()
    rec = {k: v for k, v in data.items() if not _empty(v)}
    rec["origins"] = {k: origin for k in rec if k not in ("path", "warnings")}
    rec["lib_v"] = parse_version(card.lib_version)
    rec["spark_v"] = parse_version(card.spark_version)
    rec["time_ms"] = card.timestamp or 0
    rec["ready_to_use"] = True
    rec["origins"]["ready_to_use"] = f"{origin} (no metadata.json line)"
    bucket = _bucket_of(card)
    if bucket:
        rec["bucket"] = bucket
    rec["key"] = card_key(card)
    return rec


def _merge_card(rec: dict[str, Any], card: ModelCard, origin: str) -> None:
    """A second card for the same artifact fills what the first left empty."""
    for k, v in card.to_dict().items():
        if k in ("path", "warnings") or _empty(v) or k in rec:
            continue
        rec[k] = v
        rec["origins"][k] = origin


def _apply_metadata(
    rec: dict[str, Any] | None, line: MetadataLine, origin: str, bucket: str
) -> dict[str, Any]:
    where = f"metadata:{origin}#L{line.line}"
    lib = format_version(line.lib_version)
    spark = format_version(line.spark_version)
    artifact = line.artifact
    values: dict[str, Any] = {
        "name": line.name,
        "language": line.language,
        "lib_version": lib or None,
        "spark_version": spark or None,
        "timestamp": line.time_ms,
        "date": _date_of(line.time_ms),
        "folder": line.folder,
        "artifact": artifact,
        "annotator": line.annotator,
        "s3_uri": f"s3://{bucket}/{line.folder}/{artifact}",
        "download_url": f"https://s3.amazonaws.com/{bucket}/{line.folder}/{artifact}",
    }
    if rec is None:
        rec = {k: v for k, v in values.items() if v is not None}
        rec["origins"] = {k: where for k in rec}
        rec["lib_v"] = line.lib_version
        rec["spark_v"] = line.spark_version
        rec["time_ms"] = line.time_ms
        rec["key"] = line.key
        rec["bucket"] = bucket
    else:
        # the card's own fields win; the line fills what the card lacks
        for k, v in values.items():
            if v is not None and k not in rec:
                rec[k] = v
                rec["origins"][k] = where
        rec.setdefault("bucket", bucket)
    # what only metadata.json knows
    rec["ready_to_use"] = line.ready_to_use
    rec["origins"]["ready_to_use"] = where
    if line.engine:
        old = rec.get("engine")
        if old and old.lower() != line.engine.lower():
            warnings = list(rec.get("warnings", []))
            warnings.append(f"engine: the card says {old!r}, metadata.json says {line.engine!r}")
            rec["warnings"] = warnings
        rec["engine"] = line.engine
        rec["origins"]["engine"] = where
    if line.checksum:
        rec["checksum"] = line.checksum
        rec["origins"]["checksum"] = where
    rec["is_zipped"] = line.is_zipped
    if line.category:
        rec["category"] = line.category
        rec["origins"]["category"] = where
    return rec


def _rank(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec["spark_v"], rec["lib_v"], rec["time_ms"])


def merge(cards: Iterable[CardInput], metadata: Iterable[MetadataInput]) -> list[dict[str, Any]]:
    """One record per artifact: cards first (sorted by origin, first wins per
    field), then metadata.json lines enrich or add records."""
    records: dict[Any, dict[str, Any]] = {}
    for item in sorted(cards, key=lambda c: c.origin):
        key = _merge_identity(item.card)
        if key in records:
            _merge_card(records[key], item.card, item.origin)
        else:
            records[key] = _record_from_card(item.card, item.origin)
    for meta in metadata:
        seen: set[str] = set()
        for line in meta.lines:
            key = line.key
            if key in seen:
                log.debug("%s:%d: duplicate of an earlier line for %s", meta.origin, line.line, key)
                continue
            seen.add(key)
            records[key] = _apply_metadata(records.get(key), line, meta.origin, meta.bucket)
    out = sorted(records.values(), key=lambda r: r["key"])
    out.sort(key=_rank, reverse=True)
    return out


def _group_key(rec: dict[str, Any]) -> tuple[str, str, str]:
    return (rec["name"], norm_lang(rec.get("language")), rec.get("folder") or "")


def _group_order(gkey: tuple[str, str, str]) -> tuple[str, tuple[str, str, str]]:
    """Listing order: names without case (exact name next, so a model's rows
    stay together), then language and folder; as catalog's ``_row_order``."""
    return (gkey[0].casefold(), gkey)


def build_sections(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The index sections for records sorted best-first (see :func:`merge`)."""
    by_bucket: list[dict[str, list[dict[str, Any]]]] = [{} for _ in range(NAME_BUCKETS)]
    names: dict[str, set[str]] = {}
    nlu: dict[str, tuple[str, str | None]] = {}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:  # best first, so every list below is best first too
        name = rec["name"]
        by_bucket[name_bucket(name)].setdefault(name, []).append(rec)
        names.setdefault(name, set()).add(norm_lang(rec.get("language")))
        for ref in rec.get("nlu_refs", ()):
            nlu.setdefault(ref, (name, rec.get("language")))
        groups.setdefault(_group_key(rec), []).append(rec)

    shards: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    search: list[tuple[Any, ...]] = []
    for gkey in sorted(groups, key=_group_order):
        members = groups[gkey]
        inherited = {f: next((m[f] for m in members if m.get(f)), None) for f in _INHERITED}
        desc = next((m["description"] for m in members if m.get("description")), None)
        best = members[0]
        lang = gkey[1]
        tags = tuple(inherited["tags"] or ())
        search.append(
            (
                best["name"],
                best.get("language"),
                best.get("folder"),
                inherited["task"],
                inherited["title"],
                tags,
                (desc or "")[:_DESCRIPTION_CHARS],
                best.get("lib_version"),
                best["key"],
                # a longer description's words, so search matches all of it
                word_text(desc) if desc and len(desc) > _DESCRIPTION_CHARS else "",
            )
        )
        rows = shards.setdefault((lang, norm_task(inherited["task"])), [])
        for m in members:
            if not m.get("ready_to_use", True):
                continue
            rows.append(
                (
                    m["name"],
                    m.get("language"),
                    inherited["task"],
                    m.get("annotator") or inherited["annotator"],
                    m.get("lib_version"),
                    m.get("spark_version"),
                    m.get("date") or (_date_of(m["time_ms"]) if m["time_ms"] else None),
                    m.get("engine"),
                    m.get("folder"),
                    tags,
                    m["lib_v"],
                    m["spark_v"],
                    m["key"],
                    inherited["title"],
                )
            )
    sections: dict[str, Any] = {}
    shard_table: list[tuple[str, str, str, int]] = []
    for i, ((lang, task), rows) in enumerate(sorted(shards.items())):
        if not rows:
            continue
        sname = f"list:{i}"
        sections[sname] = rows
        # what `modelhub list` prints for this shard without filters
        sections[f"text:{i}"] = render_rows(pick_rows(rows))
        shard_table.append((lang, task, sname, len(rows)))
    for b, content in enumerate(by_bucket):
        sections[f"rec:{b}"] = content
    sections["names"] = {n: tuple(sorted(langs)) for n, langs in names.items()}
    sections["nlu"] = nlu
    sections["search"] = search
    sections["shards"] = shard_table
    return sections


def walk_cards(root: str) -> tuple[list[str], list[str]]:
    """``(card files, directories)`` under ``root`` (a folder or one file),
    sorted; hidden entries are skipped."""
    if os.path.isfile(root):
        return [root], []
    files: list[str] = []
    dirs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        dirs.append(dirpath)
        files.extend(
            os.path.join(dirpath, f)
            for f in sorted(filenames)
            if f.endswith(".md") and not f.startswith(".")
        )
    return files, dirs


def parse_card_files(files: list[str], prefix: str) -> tuple[list[CardInput], int]:
    """Parses card files; a bad card is skipped with one warning. Returns the
    cards and the number skipped."""
    from modelhub.cards import load_card  # the parser; imported only to build
    from modelhub.errors import CardError

    out: list[CardInput] = []
    skipped = 0
    for path in files:
        try:
            card = load_card(path)
        except CardError as exc:
            log.warning("skipped a card: %s", exc)
            skipped += 1
            continue
        except OSError as exc:
            log.warning("skipped a card: %s: %s", path, exc.strerror)
            skipped += 1
            continue
        out.append(CardInput(card, f"{prefix}:{path}"))
    return out, skipped


def now_ms() -> int:
    return int(time.time() * 1000)
