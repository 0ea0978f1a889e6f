"""Resolution in a given catalog: the one artifact Spark NLP's
ResourceDownloader would pick for ``(name, lang)``, and an explanation of why.
:class:`~modelhub.registry.catalog.catalog.Catalog` calls it for its
``resolve``/``explain`` methods; :mod:`modelhub.registry.catalog.resolve`
adds the process-wide default catalog.

The rule:

1. candidates: ``readyToUse``, exactly the name, the same language (or either
   side without one), in the folder;
2. the candidate's library and Spark versions are compatible with the targets
   (:func:`modelhub.registry.versions.is_compatible`; no target, no bound);
3. when the caller says which engines it can load, other engines are out;
4. among the survivors: highest Spark version, then highest library version,
   then newest time.

``version=`` pins one artifact (library version, artifact name or timestamp);
``source=`` prefers artifacts that can come from that kind of source.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelhub.errors import ModelNotFound
from modelhub.registry.versions import (
    Version,
    format_version,
    is_compatible,
    parse_target,
    parse_version,
    same_version,
    why_incompatible,
)

if TYPE_CHECKING:
    from modelhub.registry.artifact import Artifact
    from modelhub.registry.catalog.catalog import Catalog

log = logging.getLogger(__name__)

DEFAULT_FOLDER = "public/models"
_SOURCES = ("hf", "s3", "https")


@dataclass(frozen=True)
class Query:
    name: str
    lang: str | None
    folder: str | None
    lib_target: Version
    spark_target: Version
    engines: frozenset[str] | None
    version: str | None
    source: str | None
    via: str | None = None  # the nlu reference the name came from


@dataclass(frozen=True)
class Candidate:
    key: str
    name: str
    language: str | None
    folder: str | None
    lib_version: str
    spark_version: str
    timestamp: int
    engine: str | None
    status: str  # "picked", "ranked lower", "rejected"
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "language": self.language,
            "folder": self.folder,
            "lib_version": self.lib_version,
            "spark_version": self.spark_version,
            "timestamp": self.timestamp,
            "engine": self.engine,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Explanation:
    query: Query
    candidates: tuple[Candidate, ...] = field(default=())
    pick: Artifact | None = None

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        return {
            "query": {
                "name": q.name,
                "lang": q.lang,
                "folder": q.folder,
                "lib_version": format_version(q.lib_target) or None,
                "spark_version": format_version(q.spark_target) or None,
                "engines": sorted(q.engines) if q.engines is not None else None,
                "version": q.version,
                "source": q.source,
                "via": q.via,
            },
            "pick": self.pick.key if self.pick else None,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def _norm_lang(lang: str | None) -> str | None:
    if lang is None:
        return None
    lang = lang.strip().lower()
    return lang or None


def _pin_matches(rec: dict[str, Any], pin: str) -> bool:
    p = pin.strip()
    artifact = rec.get("artifact") or ""
    if p in (artifact, rec["key"]) or (artifact and p == artifact.removesuffix(".zip")):
        return True
    if p.isdigit() and len(p) >= 10:
        return rec["time_ms"] == int(p)
    digits = p.removeprefix("v")
    if not digits or not all(ch.isdigit() or ch == "." for ch in digits):
        return False  # an artifact name or key that is not this one
    return same_version(parse_version(digits), rec["lib_v"])


def _has_source(rec: dict[str, Any], kind: str) -> bool:
    if kind == "hf":
        up = rec.get("upstream")
        return bool(up and up.get("kind") == "huggingface" and up.get("repo"))
    return bool(rec.get("artifact") or (kind == "https" and rec.get("download_url")))


def _reject_reason(rec: dict[str, Any], q: Query) -> str | None:
    """Why ``rec`` is not a candidate for ``q`` at all, or None."""
    rec_lang = rec.get("language")
    if q.lang and rec_lang and rec_lang.lower() != q.lang:
        return f"language {rec_lang!r}, not {q.lang!r}"
    if not rec.get("ready_to_use", True):
        return "not readyToUse in metadata.json"
    if q.folder and (rec.get("folder") or DEFAULT_FOLDER) != q.folder:
        return f"in folder {rec.get('folder')}, not {q.folder}"
    if q.version is not None:
        if not _pin_matches(rec, q.version):
            return f"not the pinned version {q.version}"
    else:
        why = why_incompatible(rec["lib_v"], q.lib_target, "library version")
        if why:
            return why
        why = why_incompatible(rec["spark_v"], q.spark_target, "Spark version")
        if why:
            return why
    engine = rec.get("engine")
    if q.engines is not None and engine and engine.lower() not in q.engines:
        return f"engine {engine!r} cannot be loaded here (loadable: {', '.join(sorted(q.engines))})"
    return None


def _fast_pick(recs: list[dict[str, Any]], q: Query) -> dict[str, Any] | None:
    """The first candidate (records are best first) that passes every filter;
    the hot path of :func:`resolve`, so the common checks are inlined."""
    lang, folder, lib_t, spark_t = q.lang, q.folder, q.lib_target, q.spark_target
    plain = q.version is None and q.engines is None
    for rec in recs:
        rec_lang = rec.get("language")
        if lang and rec_lang and rec_lang != lang and rec_lang.lower() != lang:
            continue
        if not rec.get("ready_to_use", True):
            continue
        if folder and rec.get("folder", DEFAULT_FOLDER) != folder:
            continue
        if plain:
            if (not lib_t or is_compatible(rec["lib_v"], lib_t)) and (
                not spark_t or is_compatible(rec["spark_v"], spark_t)
            ):
                return rec
        elif _reject_reason(rec, q) is None:
            return rec
    return None


def _ordered(recs: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    """Records in rank order; with a source preference, those that can come
    from that source first (each part keeps the version order)."""
    if not q.source:
        return recs
    return sorted(recs, key=lambda r: not _has_source(r, q.source or ""))


def _make_query(
    name: str,
    lang: str | None,
    version: str | None,
    folder: str | None,
    source: str | None,
    engines: Collection[str] | None,
    lib_version: str | None,
    spark_version: str | None,
    catalog: Catalog,
) -> Query:
    if source is not None and source not in _SOURCES:
        from modelhub.errors import ConfigError

        raise ConfigError(f"source={source!r}: use one of {', '.join(_SOURCES)}")
    settings = catalog.settings
    return Query(
        name=name,
        lang=_norm_lang(lang),
        folder=folder or None,
        lib_target=_target(lib_version, settings.lib_version, "lib_version"),
        spark_target=_target(spark_version, settings.spark_version, "spark_version"),
        engines=frozenset(e.lower() for e in engines) if engines is not None else None,
        version=str(version) if version is not None else None,
        source=source,
    )


def _target(given: str | None, configured: str | None, what: str) -> Version:
    """The target ``given`` (else the configured one); text without a
    version number is an error, not "no upper bound"."""
    try:
        return parse_target(given if given is not None else configured, what)
    except ValueError as exc:
        from modelhub.errors import ConfigError

        raise ConfigError(str(exc)) from None


def _lookup(catalog: Catalog, q: Query) -> tuple[Query, list[dict[str, Any]]]:
    """The records for the query's name; falls back to nlu references, then
    raises :class:`ModelNotFound` with suggestions."""
    recs = catalog.records_for(q.name)
    if recs:
        return q, recs
    stripped = q.name.strip()
    if stripped != q.name:
        recs = catalog.records_for(stripped)
        if recs:
            _warn_stripped(q.name, stripped)
            return _with(q, name=stripped), recs
    ref = catalog.nlu_refs().get(stripped)
    if ref is not None:
        name, ref_lang = ref
        recs = catalog.records_for(name)
        if recs:
            if stripped != q.name:
                _warn_stripped(q.name, stripped)
            return _with(q, name=name, lang=_norm_lang(ref_lang), via=stripped), recs
    raise _not_found(catalog, q)


def _warn_stripped(name: str, stripped: str) -> None:
    log.warning("model name %r has surrounding spaces; resolving %r", name, stripped)


def _with(q: Query, **changes: Any) -> Query:
    from dataclasses import replace

    return replace(q, **changes)


def _norm_name(name: str) -> str:
    return "".join(ch for ch in name.strip().lower() if ch.isalnum())


def suggest(catalog: Catalog, name: str, limit: int = 5) -> list[str]:
    """Close names: same name up to case/spaces/punctuation first, then
    difflib's closest; nlu references for dotted names."""
    import difflib

    names = catalog.names()
    target = _norm_name(name)
    exact = sorted(n for n in names if _norm_name(n) == target and n != name)
    pool = list(names)
    if "." in name:
        pool.extend(catalog.nlu_refs())
    probe = name.strip().lower()
    n = len(probe)
    # difflib is quadratic per pair: compare only names of a similar length
    pool = [p for p in pool if abs(len(p) - n) <= max(3, n // 4)]
    lowered = {p.lower(): p for p in pool}
    close = difflib.get_close_matches(probe, list(lowered), n=limit, cutoff=0.75)
    out = exact + [lowered[c] for c in close if lowered[c] not in exact and lowered[c] != name]
    return out[:limit]


def _not_found(catalog: Catalog, q: Query) -> ModelNotFound:
    suggestions = suggest(catalog, q.name)
    msg = f"no model named {q.name!r} in the catalog"
    if suggestions:
        msg += f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
    else:
        msg += " (try `modelhub search`, or `modelhub catalog sync` to refresh metadata.json)"
    return ModelNotFound(msg, name=q.name, language=q.lang, suggestions=suggestions)


def _no_candidate(catalog: Catalog, q: Query, recs: list[dict[str, Any]]) -> ModelNotFound:
    langs = sorted({(r.get("language") or "") for r in recs} - {""})
    if q.lang and not any((r.get("language") or "").lower() in ("", q.lang) for r in recs):
        msg = f"model {q.name!r} has no {q.lang!r} version; it exists in: {', '.join(langs)}"
    else:
        reasons = [_reject_reason(r, q) for r in recs]
        shown = sorted({r for r in reasons if r})[:3]
        msg = (
            f"model {q.name!r} ({q.lang or 'any language'}): none of its {len(recs)} "
            f"artifacts fits: {'; '.join(shown)}. Run `modelhub explain {q.name}"
            f"{' --lang ' + q.lang if q.lang else ''}` for the full list"
        )
    return ModelNotFound(msg, name=q.name, language=q.lang, languages=langs)


def resolve(
    name: str,
    lang: str | None = "en",
    *,
    version: str | None = None,
    folder: str | None = DEFAULT_FOLDER,
    source: str | None = None,
    engines: Collection[str] | None = None,
    lib_version: str | None = None,
    spark_version: str | None = None,
    catalog: Catalog,
) -> Artifact:
    """The artifact ``pretrained(name, lang)`` means (see the module docstring).

    ``folder=None`` searches every folder; ``lib_version``/``spark_version``
    default to the configured targets (none: no upper bound). Raises
    :class:`ModelNotFound` (with ``suggestions`` and ``languages``), never
    returns None.
    """
    cat = catalog
    q = _make_query(name, lang, version, folder, source, engines, lib_version, spark_version, cat)
    q, recs = _lookup(cat, q)
    rec = _fast_pick(_ordered(recs, q), q)
    if rec is None:
        raise _no_candidate(cat, q, recs)
    return cat.artifact(rec, q.source)


def _lower_reason(rec: dict[str, Any], pick: dict[str, Any], q: Query) -> str:
    if q.source and _has_source(pick, q.source) and not _has_source(rec, q.source):
        return f"no {q.source} source (preferred)"
    if rec["spark_v"] != pick["spark_v"]:
        return (
            f"Spark version {format_version(rec['spark_v']) or '-'} < "
            f"{format_version(pick['spark_v'])} of the pick"
        )
    if rec["lib_v"] != pick["lib_v"]:
        return (
            f"library version {format_version(rec['lib_v']) or '-'} < "
            f"{format_version(pick['lib_v'])} of the pick"
        )
    if rec["time_ms"] != pick["time_ms"]:
        return "older than the pick (same versions)"
    return "same versions and time as the pick; ordered by key"


def explain(
    name: str,
    lang: str | None = "en",
    *,
    version: str | None = None,
    folder: str | None = DEFAULT_FOLDER,
    source: str | None = None,
    engines: Collection[str] | None = None,
    lib_version: str | None = None,
    spark_version: str | None = None,
    catalog: Catalog,
) -> Explanation:
    """Every artifact of the name, in rank order, with why it was picked,
    ranked lower or rejected. Unknown names raise :class:`ModelNotFound`."""
    cat = catalog
    q = _make_query(name, lang, version, folder, source, engines, lib_version, spark_version, cat)
    q, recs = _lookup(cat, q)
    ordered = _ordered(recs, q)
    pick = _fast_pick(ordered, q)
    out: list[Candidate] = []
    for rec in ordered:
        if rec is pick:
            status, reason = "picked", None
        else:
            reason = _reject_reason(rec, q)
            status = "rejected" if reason else "ranked lower"
            if reason is None and pick is not None:
                reason = _lower_reason(rec, pick, q)
        out.append(
            Candidate(
                key=rec["key"],
                name=rec["name"],
                language=rec.get("language"),
                folder=rec.get("folder"),
                lib_version=format_version(rec["lib_v"]),
                spark_version=format_version(rec["spark_v"]),
                timestamp=rec["time_ms"],
                engine=rec.get("engine"),
                status=status,
                reason=reason,
            )
        )
    return Explanation(q, tuple(out), cat.artifact(pick, q.source) if pick else None)
