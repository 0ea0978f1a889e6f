"""``modelhub import``: checks every file of a mirror against its manifest,
then installs the entries into the cache, all or nothing, and brings the
mirror's cards into the catalog."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modelhub.config import Settings
from modelhub.errors import IntegrityError
from modelhub.registry.files import atomic_write
from modelhub.registry.mirror.export import _settings
from modelhub.registry.mirror.format import (
    CARDS_DIR,
    MirrorModel,
    _check,
    _hash_copy,
    _mismatch,
    mirror_root,
    read_manifest,
)
from modelhub.registry.store.manifest import Entry, Manifest
from modelhub.registry.store.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Imported:
    entries: tuple[Entry, ...]
    cards: tuple[Path, ...]
    skipped: tuple[str, ...] = ()  # keys already in the cache with identical files


def import_mirror(root: str | Path, *, settings: Settings | None = None) -> Imported:
    """Copies every artifact and card of the mirror at ``root`` into the cache.

    Everything is first copied into staging directories and checked against
    the mirror manifest (size and sha256 of each file, and the files listed
    per model); only when all of it matches are the entries installed.  On
    any mismatch nothing is installed and :class:`IntegrityError` names the
    file."""
    settings = _settings(settings)
    root = mirror_root(root)
    manifest = read_manifest(root)
    store = Store.from_settings(settings)
    store.ensure_layout()
    where = str(root)
    staged: list[tuple[MirrorModel, Path]] = []
    cards: list[tuple[str, bytes]] = []
    skipped: list[str] = []
    try:
        for model in manifest.models:
            existing = store.lookup(model.key)
            if existing is not None and _same_files(existing, model) and not existing.quick_check():
                # still checked: a tampered mirror must fail even when the cache has it
                for f in model.files:
                    rel = f"{model.dir}/{f.path}"
                    _check(where, rel, _hash_copy(root / rel, None), manifest.files.get(rel))
                skipped.append(model.key)
                continue
            tmp = store.staging_dir(model.key)
            staged.append((model, tmp))
            for f in model.files:
                rel = f"{model.dir}/{f.path}"
                dst = tmp / f.path
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    got = _hash_copy(root / rel, dst)
                except FileNotFoundError:
                    raise IntegrityError(
                        f"{where}: {rel} is listed in the mirror manifest but missing; "
                        "nothing was installed",
                        artifact=model.name,
                        expected=rel,
                    ) from None
                _check(where, rel, got, manifest.files.get(rel))
                if got != (f.size, f.sha256):
                    raise _mismatch(where, rel, "sha256", f.sha256, got[1])
        for rel in sorted(p for p in manifest.files if p.startswith(CARDS_DIR + "/")):
            data = (root / rel).read_bytes()
            _check(where, rel, (len(data), hashlib.sha256(data).hexdigest()), manifest.files[rel])
            cards.append((rel, data))
    except BaseException:
        for _, tmp in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        raise

    entries: list[Entry] = []
    for model, tmp in staged:
        m = Manifest(
            key=model.key,
            content="",
            files=model.files,
            kind=model.kind,
            source={"kind": "mirror", "location": str(root)},
            download={**model.download, "url": (root / model.dir).resolve().as_uri()},
            commit=model.commit,
            artifact=model.artifact,
        )
        entries.append(store.install(model.key, tmp, m))
    from modelhub.registry.catalog.paths import IMPORTED_CARDS, catalog_dir

    card_dir = Path(catalog_dir(settings)) / IMPORTED_CARDS
    written: list[Path] = []
    if cards:
        card_dir.mkdir(parents=True, exist_ok=True)
        for rel, data in cards:
            target = card_dir / PurePosixPath(rel).name
            atomic_write(target, data, fsync=False)
            written.append(target)
    _refresh_catalog()
    return Imported(tuple(entries), tuple(written), tuple(skipped))


def _same_files(entry: Entry, model: MirrorModel) -> bool:
    have = {(f.path, f.size, f.sha256) for f in entry.manifest.files}
    return have == {(f.path, f.size, f.sha256) for f in model.files}


def _refresh_catalog() -> None:
    with contextlib.suppress(Exception):
        from modelhub.registry.catalog.resolve import reset_default_catalog

        reset_default_catalog()
