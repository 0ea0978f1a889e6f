"""``modelhub mirror export``: writes a mirror (see
:mod:`modelhub.registry.mirror.format`) from verified cache entries,
pulling what is missing, cards included; the manifest is written last."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelhub.config import Settings
from modelhub.errors import CacheError, IntegrityError
from modelhub.registry.artifact import Artifact
from modelhub.registry.files import atomic_write
from modelhub.registry.mirror.format import (
    CARDS_DIR,
    MANIFEST_NAME,
    MirrorError,
    MirrorManifest,
    MirrorModel,
    _hash_copy,
    layout_dir,
    read_manifest,
)
from modelhub.registry.store.manifest import Entry, FileRecord

log = logging.getLogger(__name__)


def _card_text(record: dict[str, Any]) -> str:
    """A minimal card for a record that came from metadata.json only: enough
    front matter and the Download link for the parser to rebuild the same
    artifact key."""

    def q(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    lines = ["---", "layout: model"]
    for key, out in (("name", "name"), ("title", "title"), ("task", "task")):
        if record.get(key):
            lines.append(f"{out}: {q(record[key])}")
    if record.get("language"):
        lines.append(f"language: {q(record['language'])}")
    if record.get("lib_version"):
        lines.append(f"edition: {q('Spark NLP ' + record['lib_version'])}")
    if record.get("spark_version"):
        lines.append(f"spark_version: {q(record['spark_version'])}")
    for key in ("annotator", "engine", "date"):
        if record.get(key):
            lines.append(f"{key}: {q(record[key])}")
    if record.get("tags"):
        lines.append(f"tags: {q(list(record['tags']))}")
    lines += ["---", "", "## Description", ""]
    lines.append(record.get("description") or f"{record.get('name')}, exported by modelhub.")
    url = record.get("download_url")
    if url:
        lines += ["", f"[Download]({url})"]
    up = record.get("upstream") or {}
    if up.get("kind") == "huggingface" and up.get("repo"):
        lines += ["", f"Imported from [Hugging Face](https://huggingface.co/{up['repo']})."]
    return "\n".join(lines) + "\n"


def _settings(settings: Settings | None) -> Settings:
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return settings


def _resolve(name: str, lang: str | None, version: str | None, settings: Settings) -> Artifact:
    from modelhub.registry.catalog.catalog import load_catalog

    return load_catalog(settings).resolve(name, lang, version=version)


def _pull(artifact: Artifact, settings: Settings, offline: bool | None) -> Entry:
    from modelhub.registry.pulling import pull_result

    return pull_result(artifact, offline=offline, settings=settings).entry


def export_mirror(
    requests: Iterable[tuple[str, str | None]],
    dest: str | Path,
    *,
    version: str | None = None,
    settings: Settings | None = None,
    offline: bool | None = None,
) -> MirrorManifest:
    """Writes the artifacts of ``(name, lang)`` pairs (pulled when missing)
    and their cards into the mirror ``dest``.  ``dest`` may be new, empty or
    an existing mirror (models are added or replaced).  Every cached file is
    checked against its cache manifest while it is copied."""
    settings = _settings(settings)
    root = Path(dest).expanduser()
    previous: MirrorManifest | None = None
    if root.exists():
        if not root.is_dir():
            raise MirrorError(f"{root} exists and is not a directory")
        if (root / MANIFEST_NAME).exists():
            previous = read_manifest(root)
        elif any(root.iterdir()):
            raise MirrorError(
                f"{root} is not empty and not a modelhub mirror; export into a new or empty folder"
            )
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[int, str]] = dict(previous.files) if previous else {}
    models: dict[str, MirrorModel] = {m.key: m for m in previous.models} if previous else {}

    for name, lang in requests:
        artifact = _resolve(name, lang, version, settings)
        entry = _pull(artifact, settings, offline)
        rel_dir = layout_dir(artifact)
        old = models.get(artifact.key)
        for stale in [p for p in files if p.startswith(rel_dir + "/")]:
            del files[stale]
        if old is not None and old.card:
            files.pop(old.card, None)
        copied = _export_entry(entry, root, rel_dir)
        files.update({f"{rel_dir}/{f.path}": (f.size, f.sha256) for f in copied})
        card_rel = _export_card(artifact, root, files)
        m = entry.manifest
        models[artifact.key] = MirrorModel(
            name=artifact.name,
            language=artifact.language,
            key=artifact.key,
            dir=rel_dir,
            kind=m.kind,
            files=tuple(copied),
            commit=m.commit,
            artifact=artifact.to_dict(),
            download={k: v for k, v in m.download.items() if k in ("sha256", "size", "md5")},
            card=card_rel,
        )
        log.info("exported %s (%s) -> %s", artifact.name, artifact.language, root / rel_dir)

    from modelhub import __version__

    manifest = MirrorManifest(
        models=tuple(sorted(models.values(), key=lambda m: m.key)),
        files=files,
        created=time.time(),
        tool=f"modelhub {__version__}",
    )
    atomic_write(root / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=1).encode())
    return manifest


def _export_entry(entry: Entry, root: Path, rel_dir: str) -> list[FileRecord]:
    """Copies an entry's files to ``root/rel_dir`` through a temporary
    directory renamed into place; each file must hash as its manifest says."""
    target = root / rel_dir
    tmp = root / f".tmp-{secrets.token_hex(6)}"
    out: list[FileRecord] = []
    try:
        tmp.mkdir()
        for f in entry.manifest.files:
            dst = tmp / f.path
            dst.parent.mkdir(parents=True, exist_ok=True)
            size, digest = _hash_copy(entry.path / f.path, dst)
            if (size, digest) != (f.size, f.sha256):
                raise IntegrityError(
                    f"{entry.key}: cached file {f.path} does not match its cache manifest "
                    f"(sha256 {digest}, expected {f.sha256}); run `modelhub pull --verify` "
                    "to repair it, then export again",
                    artifact=entry.key,
                    expected=f.sha256,
                    actual=digest,
                )
            out.append(FileRecord(f.path, size, digest))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, target)
    except OSError as exc:
        raise CacheError(f"cannot write {target}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _export_card(artifact: Artifact, root: Path, files: dict[str, tuple[int, str]]) -> str:
    record = artifact.record
    src = Path(record.path) if record.path else None
    if src is not None and src.is_file():
        data = src.read_bytes()
        base = src.name
    else:
        data = _card_text(record.to_dict()).encode("utf-8")
        base = f"{record.name}_{record.language or 'xx'}.md"
    rel = f"{CARDS_DIR}/{base}"
    existing = root / rel
    if existing.exists() and existing.read_bytes() != data:
        stem = base[:-3] if base.endswith(".md") else base
        rel = f"{CARDS_DIR}/{stem}-{hashlib.sha256(artifact.key.encode()).hexdigest()[:8]}.md"
    (root / CARDS_DIR).mkdir(exist_ok=True)
    atomic_write(root / rel, data, fsync=False)
    files[rel] = (len(data), hashlib.sha256(data).hexdigest())
    return rel
