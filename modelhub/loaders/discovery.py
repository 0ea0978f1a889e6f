"""Finding installed loaders (entry-point group ``modelhub.loaders``) and
choosing one for an artifact.

Nothing here imports torch: loaders are instantiated, never loaded, to list
them.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from modelhub.cards.record import ModelCard
from modelhub.errors import NoLoaderError
from modelhub.loaders.base import Loader

GROUP = "modelhub.loaders"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoaderEntry:
    """One entry point of the group: the loader it gives, or why it failed."""

    entry_point: str  # "name = module:attr"
    distribution: str | None
    loader: Loader | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.loader.name if self.loader is not None else self.entry_point.split(" =")[0]


def _instantiate(ep: EntryPoint) -> Loader:
    obj = ep.load()
    if isinstance(obj, type) and issubclass(obj, Loader):
        obj = obj()
    if not isinstance(obj, Loader):
        raise TypeError(f"{ep.value} is not a modelhub.loaders.Loader subclass or instance")
    return obj


#: The last discovery and the import path it was made on (see :func:`discover`).
_MEMO: tuple[tuple[tuple[str, int], ...], list[LoaderEntry]] | None = None


def _path_stamp() -> tuple[tuple[str, int], ...]:
    """``sys.path`` with each folder's mtime: installing or removing a distribution adds
    or deletes a ``*.dist-info`` entry there, which changes its folder's mtime."""
    out = []
    for entry in sys.path:
        try:
            out.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            out.append((entry, -1))
    return tuple(out)


def discover() -> list[LoaderEntry]:
    """Every entry point of the group, best first (priority, then name);
    broken ones last, with their error. Scanning every installed distribution's
    metadata costs ~15 ms, so the result is kept while ``sys.path`` and its folders are
    unchanged (a plugin installed into a running process is found at its next call)."""
    global _MEMO
    stamp = _path_stamp()
    if _MEMO is not None and _MEMO[0] == stamp:
        return list(_MEMO[1])
    found = _discover()
    _MEMO = (stamp, found)
    return list(found)


def _discover() -> list[LoaderEntry]:
    good: list[LoaderEntry] = []
    bad: list[LoaderEntry] = []
    seen: dict[str, LoaderEntry] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        label = f"{ep.name} = {ep.value}"
        try:
            loader = _instantiate(ep)
        except Exception as exc:  # a broken plugin must not break the others
            log.warning("loader plugin %s (%s) failed to load: %s", label, dist or "?", exc)
            bad.append(LoaderEntry(label, dist, None, f"{type(exc).__name__}: {exc}"))
            continue
        entry = LoaderEntry(label, dist, loader)
        if loader.name in seen:
            # The same distribution can be visible twice (e.g. an editable
            # install plus a build dir on sys.path); keep the first.
            if seen[loader.name].entry_point != label:
                log.warning(
                    "two loaders are named %r (%s, %s); using the first",
                    loader.name,
                    seen[loader.name].entry_point,
                    label,
                )
            continue
        seen[loader.name] = entry
        good.append(entry)
    good.sort(key=lambda e: (-e.loader.priority if e.loader else 0, e.name))
    bad.sort(key=lambda e: e.name)
    return good + bad


def installed_loaders() -> list[Loader]:
    """The working loaders, highest priority first (ties by name)."""
    return [e.loader for e in discover() if e.loader is not None]


def get_loader(name: str) -> Loader:
    """The installed loader called ``name``."""
    loaders = installed_loaders()
    for loader in loaders:
        if loader.name == name:
            return loader
    raise NoLoaderError(
        f"no installed loader is named {name!r}; installed: "
        + (", ".join(lo.name for lo in loaders) or "none")
        + " (see `modelhub loaders`)"
    )


def accepted_engines(loaders: list[Loader] | None = None) -> tuple[str, ...]:
    """The record engines the given (default: installed) loaders can run."""
    out: list[str] = []
    for loader in installed_loaders() if loaders is None else loaders:
        out.extend(e for e in loader.engines if e not in out)
    return tuple(out)


def _describe_for_error(rows: list[tuple[Loader, str]]) -> str:
    if not rows:
        return "  (no loaders are installed; install modelhub[torch] for the BERT loader)"
    return "\n".join(
        f"  - {lo.name} (priority {lo.priority}; accepts {lo.accepts_text()}): {why}"
        for lo, why in rows
    )


def select_loader(
    path: Path,
    record: ModelCard | None = None,
    *,
    loader: str | Loader | None = None,
    annotator: str | None = None,
) -> Loader:
    """The loader to use for ``path``: the forced one (``loader=``) if it
    accepts it, else the highest-priority installed loader that accepts it
    (and serves ``annotator`` when given). Raises :class:`NoLoaderError`
    listing every installed loader, what it accepts, and why it declined."""
    path = Path(path)
    what = f"{path}" + (f" ({record.name})" if record is not None else "")
    if loader is not None:
        chosen = get_loader(loader) if isinstance(loader, str) else loader
        why = chosen.accepts(path, record)
        if why is not None:
            raise NoLoaderError(
                f"loader {chosen.name!r} does not accept {what}: {why}\n"
                + _describe_for_error([(chosen, why)])
            )
        return chosen
    declined: list[tuple[Loader, str]] = []
    for candidate in installed_loaders():
        if not candidate.serves(annotator):
            declined.append((candidate, f"does not serve annotator {annotator}"))
            continue
        why = candidate.accepts(path, record)
        if why is None:
            log.debug("loader %s accepts %s", candidate.name, what)
            return candidate
        declined.append((candidate, why))
    note = recognised_note(path, record, annotator)
    raise NoLoaderError(
        (f"{note}.\n" if note else "")
        + f"no installed loader accepts {what}. Installed loaders:\n"
        + _describe_for_error(declined)
    )


def _artifact_annotator_engine(path: Path) -> tuple[str | None, str | None]:
    """The annotator class and engine a Spark ML model folder's metadata names, if it is
    one. Only the params JSON is read."""
    from modelhub.errors import ModelhubError
    from modelhub.loaders.sparknlp.sparkml import find_model_root, read_metadata

    try:
        root = find_model_root(path)
        if root is None:
            return None, None
        meta = read_metadata(root)
    except (ModelhubError, OSError, UnicodeError):
        return None, None
    engine = meta.get("engine")
    # Spark NLP's HasEngine defaults to tensorflow: zips from before 5.0 have no param.
    return meta.simple_name, str(engine).lower() if engine else "tensorflow"


def recognised_note(
    path: Path | None,
    record: ModelCard | None,
    annotator: str | None = None,
    loaders: list[Loader] | None = None,
) -> str | None:
    """For an annotator that :mod:`modelhub.loaders.sparknlp.families` knows, why no
    installed loader runs it (recognised, unsupported, static vectors); ``None`` for an
    annotator it does not know. The annotator is ``annotator``, else the record's, else
    the one the folder's Spark ML metadata names; the engine likewise."""
    from modelhub.loaders.sparknlp.families import family_for, unserved_reason

    found_annotator, found_engine = (
        _artifact_annotator_engine(path) if path is not None else (None, None)
    )
    name = annotator or (record.annotator if record is not None else None) or found_annotator
    engine = (record.engine if record is not None else None) or found_engine
    if family_for(name) is None:
        return None
    served: list[str] = []
    for lo in installed_loaders() if loaders is None else loaders:
        if lo.annotators and lo.serves(name):
            served.extend(e for a, e in lo.served() if a.lower() == str(name).lower())
    return unserved_reason(name, engine, served)


def load_path(
    path: str | Path,
    record: ModelCard | None = None,
    *,
    loader: str | Loader | None = None,
    annotator: str | None = None,
    derived_dir: Path | None = None,
    **options: Any,
) -> Any:
    """Load a local verified directory with the loader that accepts it.
    ``derived_dir`` goes to loaders that keep derived files (``derives``)."""
    chosen = select_loader(Path(path), record, loader=loader, annotator=annotator)
    log.info("loading %s with loader %s", path, chosen.name)
    if derived_dir is not None and chosen.derives:
        options["derived_dir"] = Path(derived_dir)
    return chosen.load(Path(path), record, **options)
