"""The catalog: bundled cards, user card folders and cached S3 metadata.json
copies merged into one index, stored in the cache and rebuilt only when an input
changed.

Warm path (``modelhub list``): stat the inputs, read the index header, load the
one or two listing shards asked for. No card parsing, no dataclasses built, no
network; the heavy modules (card parser, datetime, requests) are imported only
when the index has to be rebuilt.
"""

from __future__ import annotations

import os

from modelhub.registry.catalog.index import (  # noqa: F401  (ROW_* re-exported)
    NAME_BUCKETS,
    PER_FILE_LIMIT,
    ROW_ANNOTATOR,
    ROW_DATE,
    ROW_ENGINE,
    ROW_FOLDER,
    ROW_KEY,
    ROW_LANG,
    ROW_LIB,
    ROW_LIB_V,
    ROW_NAME,
    ROW_SPARK,
    ROW_SPARK_V,
    ROW_TAGS,
    ROW_TASK,
    ROW_TITLE,
    TASK_ALIASES,
    IndexCorrupt,
    IndexFile,
    LazyLogger,
    dir_sig,
    fingerprint_fresh,
    index_key,
    name_bucket,
    norm_task,
    stat_sig,
    write_index,
)

# typing stays off the CLI's start (annotations are strings here)
from modelhub.registry.catalog.paths import catalog_dir, metadata_copy_path, mirror_card_dirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from modelhub.cards.record import ModelCard
    from modelhub.config import Settings
    from modelhub.registry.artifact import Artifact, Source

log = LazyLogger(__name__)

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED_CARDS = os.path.join(_PKG_DIR, "data", "cards")
_KEEP_INDEXES = 4
_BUILDER_FILES = (
    "catalog/build.py",
    "catalog/index.py",
    "catalog/metadata.py",
    "versions.py",
    "catalog/catalog.py",
    "catalog/search.py",
)


def _package_version() -> str:
    from modelhub import __version__

    return __version__


def _index_path(settings: Settings) -> str:
    parts = [
        _package_version(),
        settings.bucket,
        BUNDLED_CARDS,
        *("cards:" + p for p in settings.path_text("cards")),
        *("folder:" + f for f in settings.folders),
        *("mirror-cards:" + p for p in mirror_card_dirs(settings)),
    ]
    return os.path.join(catalog_dir(settings), f"index-{index_key(parts)}.mhx")


def _code_files() -> list[str]:
    """Sources whose change must rebuild the index (the card parser and the
    builder), for development installs where the version does not change."""
    folder = os.path.join(_PKG_DIR, "cards")
    try:
        out = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".py")]
    except OSError:
        out = []
    registry = os.path.join(_PKG_DIR, "registry")
    out.extend(os.path.join(registry, n) for n in _BUILDER_FILES)
    return out


class _MemoryIndex:
    """Sections held in memory: used when the cache cannot be written."""

    def __init__(self, header: dict[str, Any], sections: dict[str, Any]) -> None:
        self.path = "<memory>"
        self.header = header
        self._sections = sections

    def has(self, name: str) -> bool:
        return name in self._sections

    def section(self, name: str, default: Any = None) -> Any:
        return self._sections.get(name, default)

    def sections(self, names: list[str]) -> list[Any]:
        return [self._sections[n] for n in names]


def build_index(settings: Settings, path: str | None = None) -> IndexFile | _MemoryIndex:
    """Reads every input, merges and writes the index; returns a handle on it."""
    import time

    from modelhub.registry.catalog import build
    from modelhub.registry.catalog.metadata import read_metadata

    started = time.perf_counter()
    path = path or _index_path(settings)
    files: list[tuple[str, tuple[int, int] | None]] = []
    dirs: list[tuple[str, int | None]] = []
    inputs: list[dict[str, Any]] = []
    cards: list[build.CardInput] = []

    roots = [("bundled", BUNDLED_CARDS)] + [("cards", p) for p in settings.path_text("cards")]
    roots += [("mirror", p) for p in mirror_card_dirs(settings)]
    for kind, root in roots:
        if not os.path.exists(root):
            log.warning("card folder %s does not exist; skipped", root)
            dirs.append((root, None))
            inputs.append({"kind": kind, "path": root, "missing": True, "records": 0})
            continue
        card_files, card_dirs = build.walk_cards(root)
        parsed, skipped = build.parse_card_files(card_files, "card")
        cards.extend(parsed)
        dirs.extend((d, dir_sig(d)) for d in card_dirs)
        if len(card_files) <= PER_FILE_LIMIT or kind == "bundled":
            files.extend((f, stat_sig(f)) for f in card_files)
        inputs.append(
            {
                "kind": kind,
                "path": root,
                "files": len(card_files),
                "records": len(parsed),
                "skipped": skipped,
                "mtime_ns": max((stat_sig(f) or (0, 0))[1] for f in card_files)
                if card_files
                else None,
            }
        )

    metas: list[build.MetadataInput] = []
    for folder in settings.folders:
        copy = metadata_copy_path(settings, folder)
        sig = stat_sig(copy)
        files.append((copy, sig))
        entry: dict[str, Any] = {"kind": "metadata", "path": copy, "folder": folder}
        if sig is None:
            entry.update(missing=True, records=0)
            inputs.append(entry)
            continue
        from modelhub.registry.catalog.sync import read_copy_headers

        headers = read_copy_headers(copy)
        origin = headers.get("url") or copy
        try:
            lines = read_metadata(copy, folder=folder)
        except OSError as exc:
            log.warning("%s: cannot read the metadata copy (%s); skipped", copy, exc.strerror)
            lines = []
        metas.append(build.MetadataInput(lines, origin, settings.bucket))
        entry.update(records=len(lines), mtime_ns=sig[1], url=headers.get("url"))
        inputs.append(entry)

    files.extend((f, stat_sig(f)) for f in _code_files())
    records = build.merge(cards, metas)
    sections = build.build_sections(records)
    header = {
        "fp": {"files": files, "dirs": dirs},
        "inputs": inputs,
        "records": len(records),
        "built_ms": build.now_ms(),
        "build_s": round(time.perf_counter() - started, 3),
        "version": _package_version(),
    }
    try:
        write_index(path, header, sections)
    except OSError as exc:
        log.warning(
            "cannot write the catalog index %s (%s); using it from memory", path, exc.strerror
        )
        header["sections"] = {}
        return _MemoryIndex(header, sections)
    _prune(os.path.dirname(path), keep=path)
    log.info(
        "catalog index built: %d records in %.2fs -> %s", len(records), header["build_s"], path
    )
    try:
        return IndexFile(path)
    except IndexCorrupt:
        return _MemoryIndex(header, sections)


def _prune(folder: str, keep: str) -> None:
    """Keeps the few most recent index files (other configurations) and drops
    the rest, with leftovers of interrupted writes."""
    import contextlib  # not at module level: off the warm path

    try:
        entries = [os.path.join(folder, n) for n in os.listdir(folder)]
    except OSError:
        return
    indexes = [p for p in entries if p.endswith(".mhx") and p != keep]
    stale = [p for p in entries if p.endswith(".tmp")]
    indexes.sort(key=lambda p: (stat_sig(p) or (0, 0))[1], reverse=True)
    for p in indexes[_KEEP_INDEXES - 1 :] + stale:
        with contextlib.suppress(OSError):
            os.unlink(p)


def open_index(settings: Settings, *, refresh: bool = False) -> IndexFile | _MemoryIndex:
    """The index for ``settings``: the cached file when every input is
    unchanged, else a fresh build. A corrupt file is rebuilt, never trusted."""
    path = _index_path(settings)
    if not refresh:
        try:
            index = IndexFile(path)
        except IndexCorrupt as exc:
            if os.path.exists(path):
                log.warning("%s; rebuilding the catalog index", exc)
        else:
            if fingerprint_fresh(index.header["fp"]):
                return index
            log.info("catalog inputs changed; rebuilding %s", path)
    return build_index(settings, path)


class Catalog:
    """Read access to the merged index. Records are plain dicts until asked for
    as :class:`ModelCard` / :class:`Artifact`."""

    def __init__(self, settings: Settings, index: IndexFile | _MemoryIndex) -> None:
        self.settings = settings
        self._index = index
        self._by_name: dict[str, list[dict[str, Any]]] = {}
        self._loaded_buckets: set[int] = set()
        self._artifacts: dict[tuple[str, str | None], Artifact] = {}

    # -- index access, rebuilt once on corruption ------------------------------
    def _retry(self, fn: Any) -> Any:
        try:
            return fn()
        except IndexCorrupt as exc:
            log.warning("%s; rebuilding the catalog index", exc)
            self._index = build_index(self.settings)
            self._by_name.clear()
            self._loaded_buckets.clear()
            return fn()

    def section(self, name: str, default: Any = None) -> Any:
        return self._retry(lambda: self._index.section(name, default))

    @property
    def header(self) -> dict[str, Any]:
        return self._index.header

    @property
    def path(self) -> str:
        return self._index.path

    def __len__(self) -> int:
        return int(self.header.get("records", 0))

    # -- records -------------------------------------------------------------------
    def records_for(self, name: str) -> list[dict[str, Any]]:
        """Every record named ``name`` (all languages and folders), best first:
        highest Spark version, then library version, then newest."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        bucket = name_bucket(name)
        if bucket not in self._loaded_buckets:
            content = self.section(f"rec:{bucket}", {})
            self._by_name.update(content)
            self._loaded_buckets.add(bucket)
        return self._by_name.get(name, [])

    def iter_records(self) -> Iterator[dict[str, Any]]:
        for b in range(NAME_BUCKETS):
            for recs in self.section(f"rec:{b}", {}).values():
                yield from recs

    def names(self) -> dict[str, tuple[str, ...]]:
        """name -> languages it exists in (``""`` for none)."""
        return self.section("names", {})

    def nlu_refs(self) -> dict[str, tuple[str, str | None]]:
        """nlu reference (``en.embed.bert.pubmed.uncased``) -> (name, language)."""
        return self.section("nlu", {})

    def search_rows(self) -> list[tuple[Any, ...]]:
        return self.section("search", [])

    def list_rows(
        self, *, lang: str | None = None, task: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Listing rows (see ``ROW_*``), grouped per model (name, language,
        folder) and best first within a group, groups sorted by name. Only the
        shards matching ``lang``/``task`` are read."""
        from_shards = self._matching_shards(lang, task)

        def load() -> list[tuple[Any, ...]]:
            parts = self._index.sections(from_shards)
            if len(parts) == 1:
                return parts[0]
            rows = [r for part in parts for r in part]
            # shards are each sorted; groups never span shards
            rows.sort(key=_row_order)
            return rows

        return self._retry(load) if from_shards else []

    def list_text(self, *, lang: str | None = None, task: str | None = None) -> str | None:
        """The rendered default listing (no filters, no version targets) when
        ``lang``/``task`` select exactly one shard: built with the index, so
        ``modelhub list --task embeddings --lang en`` reads one string and
        writes it. ``None`` when several shards (or none) match."""
        shards = self._matching_shards(lang, task)
        if len(shards) != 1:
            return None
        name = "text:" + shards[0].partition(":")[2]
        text = self.section(name)
        return text if isinstance(text, str) else None

    def _matching_shards(self, lang: str | None, task: str | None) -> list[str]:
        table = self.section("shards", [])
        want_lang = lang.strip().lower() if lang else None
        want_task = _task_query(task) if task else None
        out = []
        for shard_lang, shard_task, sname, _count in table:
            if want_lang is not None and shard_lang != want_lang:
                continue
            if want_task is not None and not _task_matches(want_task, shard_task):
                continue
            out.append(sname)
        return out

    # -- records as objects --------------------------------------------------------
    def card(self, rec: dict[str, Any]) -> ModelCard:
        from modelhub.cards.record import ModelCard

        return ModelCard.from_dict(rec)

    def sources(self, rec: dict[str, Any], prefer: str | None = None) -> tuple[Source, ...]:
        from modelhub.registry.artifact import Source

        out: list[Source] = []
        artifact = rec.get("artifact")
        if artifact:
            bucket = rec.get("bucket") or self.settings.bucket
            key = f"{rec.get('folder') or 'public/models'}/{artifact}"
            endpoint = self.settings.s3_endpoint
            out.append(Source("s3", f"s3://{bucket}/{key}"))
            base = endpoint.rstrip("/") if endpoint else "https://s3.amazonaws.com"
            out.append(Source("https", f"{base}/{bucket}/{key}"))
        elif rec.get("download_url", "").startswith("package:"):
            # files inside an installed Python package: offline, so first
            out.append(Source("package", rec["download_url"]))
        elif rec.get("download_url"):
            out.append(Source("https", rec["download_url"]))
        up = rec.get("upstream")
        if up and up.get("kind") == "huggingface" and up.get("repo"):
            out.append(Source("hf", up["repo"], up.get("revision")))
        if prefer:
            want = ("s3", "https") if prefer == "s3" else (prefer,)
            out.sort(key=lambda s: s.kind not in want)
        return tuple(out)

    def artifact(self, rec: dict[str, Any], prefer: str | None = None) -> Artifact:
        memo = (rec["key"], rec.get("name"), rec.get("language"), prefer)
        found = self._artifacts.get(memo)
        if found is not None:
            return found
        from modelhub.registry.artifact import Artifact

        art = Artifact(
            record=self.card(rec),
            sources=self.sources(rec, prefer),
            ready_to_use=bool(rec.get("ready_to_use", True)),
            checksum=rec.get("checksum") or None,
            origins=dict(rec.get("origins", {})),
        )
        self._artifacts[memo] = art
        return art

    # -- resolution ----------------------------------------------------------------
    def resolve(self, name: str, lang: str | None = "en", **kwargs: Any) -> Artifact:
        from modelhub.registry.catalog.resolution import resolve

        return resolve(name, lang, catalog=self, **kwargs)

    def explain(self, name: str, lang: str | None = "en", **kwargs: Any) -> Any:
        from modelhub.registry.catalog.resolution import explain

        return explain(name, lang, catalog=self, **kwargs)


def _row_order(row: tuple[Any, ...]) -> tuple[str, tuple[str, str, str]]:
    """Names without case (the exact name next keeps a model's rows together),
    then language and folder; as the builder orders groups."""
    name = row[ROW_NAME]
    return (name.casefold(), (name, (row[ROW_LANG] or "").lower(), row[ROW_FOLDER] or ""))


def _task_query(task: str) -> str:
    q = norm_task(task)
    return TASK_ALIASES.get(q, q)


def _task_matches(query: str, shard_task: str) -> bool:
    """``embeddings`` matches ``embeddings``; ``classification`` matches
    ``text classification``; a multi-task card matches any of its tasks."""
    if not shard_task:
        return False
    if query == shard_task:
        return True
    return any(query in part.strip() for part in shard_task.split(","))


def load_catalog(settings: Settings | None = None, *, refresh: bool = False) -> Catalog:
    """The catalog for ``settings`` (loaded from the environment and config file
    when not given), rebuilt first when an input changed or ``refresh``."""
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return Catalog(settings, open_index(settings, refresh=refresh))


def _age(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def catalog_status(settings: Settings) -> dict[str, Any]:
    """The index and its inputs: paths, record counts, ages, the last sync of
    each metadata.json copy (for ``modelhub catalog status``)."""
    import time

    from modelhub.registry.catalog.sync import metadata_url, read_copy_headers

    catalog = load_catalog(settings)
    now = time.time()
    header = catalog.header
    inputs: list[dict[str, Any]] = []
    for entry in header.get("inputs", []):
        item = dict(entry)
        mtime = entry.get("mtime_ns")
        item["age"] = _age(now - mtime / 1e9) if mtime else None
        if entry["kind"] == "metadata":
            headers = read_copy_headers(entry["path"])
            item["url"] = headers.get("url") or metadata_url(settings, entry["folder"])
            item["etag"] = headers.get("etag")
            item["last_status"] = headers.get("last_status")
            checked = headers.get("checked_at")
            if entry.get("missing"):
                item["detail"] = f"never synced from {item['url']} (run `modelhub catalog sync`)"
            else:
                item["detail"] = (
                    f"{item['url']}; last sync {headers.get('last_status') or '-'}"
                    + (f" {_age(now - checked)} ago" if checked else "")
                    + (f" ({headers['last_error']})" if headers.get("last_error") else "")
                )
        elif entry.get("skipped"):
            item["detail"] = f"{entry['skipped']} card(s) skipped (see warnings on rebuild)"
        inputs.append(item)
    built = header.get("built_ms")
    return {
        "index": catalog.path,
        "records": len(catalog),
        "built": f"{_age(now - built / 1000)} ago" if built else "-",
        "build_seconds": header.get("build_s"),
        "inputs": inputs,
    }
