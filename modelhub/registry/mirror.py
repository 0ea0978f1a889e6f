"""Mirrors for air-gapped sites, and lock files for reproducible installs.

A mirror is a directory laid out like the remote, plus a manifest::

    modelhub-mirror.json                 written last: format, models, sha256 of every file
    cards/<card>.md                      the cards of the exported models
    <folder>/<artifact.zip>/...          a Spark NLP artifact, extracted (the cache keeps
                                         the verified contents, not the zip)
    hf/<owner>/<repo>/<revision>/...     a Hugging Face model's files
    models/<name>_<lang>/...             anything else

:func:`export_mirror` writes one from verified cache entries (pulling what is
missing); :func:`import_mirror` checks every file against the manifest and
only then installs the entries into the cache, all or nothing.  A mirror
named in ``MODELHUB_MIRROR`` / ``mirrors`` is read by the local source
(:mod:`modelhub.registry.sources.local`), which checks what it copies
against the same manifest (:func:`check_copy`); its ``cards/`` folder joins
the catalog.

A lock file (:func:`make_lock`, :func:`pull_locked`) records, per model,
the exact artifact (cache key, source, commit) and every file's size and
sha256; pulling with it fails when anything resolves or arrives differently.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from modelhub.errors import CacheError, IntegrityError, ModelhubError
from modelhub.registry.artifact import Artifact
from modelhub.registry.store import Entry, FileRecord, Manifest, Store, atomic_write

log = logging.getLogger(__name__)

MANIFEST_NAME = "modelhub-mirror.json"
MIRROR_FORMAT = 1
LOCK_FORMAT = 1
CARDS_DIR = "cards"


class MirrorError(ModelhubError):
    """A directory is not a usable mirror (no manifest, unreadable, unsafe paths)."""


class LockError(ModelhubError):
    """A lock file cannot be read or does not fit the catalog."""


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class MirrorModel:
    """One artifact in a mirror: its files live under ``dir``."""

    name: str
    language: str | None
    key: str
    dir: str  # relative to the mirror root, POSIX
    kind: str  # the cache entry's kind ("zip", "hf", "dir", "file")
    files: tuple[FileRecord, ...]  # relative to ``dir``
    commit: str | None = None
    artifact: dict[str, Any] = field(default_factory=dict)
    download: dict[str, Any] = field(default_factory=dict)
    card: str | None = None  # relative path of its card in the mirror

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "key": self.key,
            "dir": self.dir,
            "kind": self.kind,
            "commit": self.commit,
            "card": self.card,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "download": self.download,
            "artifact": self.artifact,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MirrorModel:
        return cls(
            name=str(d["name"]),
            language=d.get("language"),
            key=str(d["key"]),
            dir=_safe_rel(str(d["dir"])),
            kind=str(d.get("kind", "dir")),
            files=tuple(
                FileRecord(_safe_rel(str(f["path"])), int(f["size"]), str(f["sha256"]))
                for f in d["files"]
            ),
            commit=d.get("commit"),
            artifact=dict(d.get("artifact") or {}),
            download=dict(d.get("download") or {}),
            card=_safe_rel(d["card"]) if d.get("card") else None,
        )


@dataclass(frozen=True)
class MirrorManifest:
    models: tuple[MirrorModel, ...]
    files: dict[str, tuple[int, str]]  # every file but the manifest: path -> (size, sha256)
    created: float = 0.0
    tool: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MIRROR_FORMAT,
            "created": self.created,
            "tool": self.tool,
            "models": [m.to_dict() for m in self.models],
            "files": [
                {"path": p, "size": s, "sha256": h} for p, (s, h) in sorted(self.files.items())
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MirrorManifest:
        if d.get("format") != MIRROR_FORMAT:
            raise ValueError(f"unsupported mirror format {d.get('format')!r}")
        files = {_safe_rel(str(f["path"])): (int(f["size"]), str(f["sha256"])) for f in d["files"]}
        return cls(
            models=tuple(MirrorModel.from_dict(m) for m in d["models"]),
            files=files,
            created=float(d.get("created", 0.0)),
            tool=str(d.get("tool", "")),
        )


def _safe_rel(path: str) -> str:
    """A relative POSIX path that stays inside the mirror, or ValueError."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or "\\" in path or any(s in ("", "..") for s in p.parts):
        raise ValueError(f"unsafe path {path!r} in a mirror manifest")
    if p.parts and ":" in p.parts[0]:
        raise ValueError(f"unsafe path {path!r} in a mirror manifest")
    return p.as_posix()


def mirror_root(location: str | Path) -> Path:
    s = str(location)
    if s.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(s).path))
    return Path(s).expanduser()


def read_manifest(root: Path) -> MirrorManifest:
    path = root / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
        return MirrorManifest.from_dict(data)
    except FileNotFoundError:
        raise MirrorError(
            f"{root} is not a modelhub mirror: {MANIFEST_NAME} is missing "
            "(make one with `modelhub export NAME... --to DIR`)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MirrorError(f"{path}: unreadable mirror manifest ({exc})") from exc


_manifests: dict[str, tuple[tuple[int, int], MirrorManifest | None]] = {}


def cached_manifest(root: Path) -> MirrorManifest | None:
    """The mirror's manifest, re-read only when the file changed; None when
    the directory has none (a hand-made mirror)."""
    path = root / MANIFEST_NAME
    try:
        st = path.stat()
    except OSError:
        return None
    sig = (st.st_mtime_ns, st.st_size)
    hit = _manifests.get(str(path))
    if hit is not None and hit[0] == sig:
        return hit[1]
    manifest = read_manifest(root)
    _manifests[str(path)] = (sig, manifest)
    return manifest


# --------------------------------------------------------------------------- hashing


def _hash_copy(src: Path, dst: Path | None) -> tuple[int, str]:
    """(size, sha256) of ``src``, copied to ``dst`` (which must not exist) in
    the same read when given."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fi:
        fo = open(dst, "xb") if dst is not None else None  # noqa: SIM115
        try:
            while data := fi.read(4 << 20):
                h.update(data)
                size += len(data)
                if fo is not None:
                    fo.write(data)
        finally:
            if fo is not None:
                fo.close()
    return size, h.hexdigest()


def _mismatch(where: str, rel: str, what: str, expected: str, actual: str) -> IntegrityError:
    return IntegrityError(
        f"{where}: {rel}: {what} mismatch: expected {expected}, got {actual} "
        "(the mirror manifest disagrees with the file); nothing was installed",
        artifact=rel,
        expected=expected,
        actual=actual,
    )


def _check(where: str, rel: str, got: tuple[int, str], want: tuple[int, str] | None) -> None:
    if want is None:
        raise IntegrityError(
            f"{where}: {rel} is not listed in the mirror manifest; nothing was installed",
            artifact=rel,
            expected="a listed file",
            actual=rel,
        )
    if got[0] != want[0]:
        raise _mismatch(where, rel, "size", str(want[0]), str(got[0]))
    if got[1] != want[1]:
        raise _mismatch(where, rel, "sha256", want[1], got[1])


def check_copy(name: str, root: Path, found: Path, fetched: Any) -> None:
    """For the local source: when ``root`` is a mirror with a manifest, the
    files just copied from ``found`` (a directory or one file) must be
    exactly what the manifest lists for it.  Raises IntegrityError after
    deleting the staged copy."""
    manifest = cached_manifest(root)
    if manifest is None:
        return
    try:
        rel_found = found.resolve().relative_to(root.resolve()).as_posix()
        if found.is_file():
            got = (int(fetched.download.get("size", -1)), str(fetched.download.get("sha256")))
            _check(str(root), rel_found, got, manifest.files.get(rel_found))
            return
        listed = {
            p[len(rel_found) + 1 :]: v
            for p, v in manifest.files.items()
            if p.startswith(rel_found + "/")
        }
        copied = {f.path: (f.size, f.sha256) for f in fetched.files}
        for rel, got in sorted(copied.items()):
            _check(f"{root} ({name})", f"{rel_found}/{rel}", got, listed.get(rel))
        missing = sorted(set(listed) - set(copied))
        if missing:
            raise IntegrityError(
                f"{root} ({name}): {rel_found}/{missing[0]} is listed in the mirror manifest "
                f"but missing{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}",
                artifact=name,
                expected=missing[0],
                actual=None,
            )
    except BaseException:
        shutil.rmtree(fetched.staged, ignore_errors=True)
        raise
    log.info("%s: %d files checked against the mirror manifest in %s", name, len(copied), root)


# --------------------------------------------------------------------------- layout


def layout_dir(artifact: Artifact | dict[str, Any]) -> str:
    """Where a mirror keeps an artifact (the remote layout)."""
    if isinstance(artifact, Artifact):
        record = artifact.record.to_dict()
        sources = [s.to_dict() for s in artifact.sources]
    else:
        record = artifact.get("record", {})
        sources = artifact.get("sources", [])
    if record.get("artifact"):
        return _safe_rel(
            f"{(record.get('folder') or 'public/models').strip('/')}/{record['artifact']}"
        )
    hf = next((s for s in sources if s.get("kind") == "hf"), None)
    if hf is not None:
        return _safe_rel(f"hf/{hf['location']}/{hf.get('revision') or 'main'}")
    return _safe_rel(f"models/{record.get('name')}_{record.get('language') or 'xx'}")


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


# --------------------------------------------------------------------------- export


def _settings(settings: Any) -> Any:
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return settings


def _resolve(name: str, lang: str | None, version: str | None, settings: Any) -> Artifact:
    from modelhub.registry.catalog import load_catalog

    return load_catalog(settings).resolve(name, lang, version=version)


def _pull(artifact: Artifact, settings: Any, offline: bool | None) -> Entry:
    from modelhub.registry.pull import pull_result

    return pull_result(artifact, offline=offline, settings=settings).entry


def export_mirror(
    requests: Iterable[tuple[str, str | None]],
    dest: str | Path,
    *,
    version: str | None = None,
    settings: Any = None,
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


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class Imported:
    entries: tuple[Entry, ...]
    cards: tuple[Path, ...]
    skipped: tuple[str, ...] = ()  # keys already in the cache with identical files


def verify_mirror(root: str | Path) -> MirrorManifest:
    """Re-hashes every file the manifest lists (reads everything once)."""
    root = mirror_root(root)
    manifest = read_manifest(root)
    for rel, want in sorted(manifest.files.items()):
        try:
            got = _hash_copy(root / rel, None)
        except FileNotFoundError:
            raise IntegrityError(
                f"{root}: {rel} is listed in the mirror manifest but missing",
                artifact=rel,
                expected=rel,
            ) from None
        _check(str(root), rel, got, want)
    return manifest


def import_mirror(root: str | Path, *, settings: Any = None) -> Imported:
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
    from modelhub.registry.catalog import IMPORTED_CARDS, catalog_dir

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
        from modelhub.registry.resolve import reset_default_catalog

        reset_default_catalog()


# --------------------------------------------------------------------------- lock


def lock_item(artifact: Artifact, entry: Entry) -> dict[str, Any]:
    m = entry.manifest
    r = artifact.record
    return {
        "name": artifact.name,
        "language": artifact.language,
        "key": artifact.key,
        "lib_version": r.lib_version,
        "artifact": r.artifact,
        "source": m.source,
        "commit": m.commit,
        "sha256": m.download.get("sha256"),
        "size": m.size,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in m.files],
    }


def make_lock(
    requests: Iterable[tuple[str, str | None]],
    *,
    version: str | None = None,
    settings: Any = None,
    offline: bool | None = None,
) -> dict[str, Any]:
    """The lock document for ``(name, lang)`` pairs: each is resolved and
    pulled (so its hashes are known) and recorded exactly."""
    settings = _settings(settings)
    from modelhub import __version__

    items = []
    for name, lang in requests:
        artifact = _resolve(name, lang, version, settings)
        entry = _pull(artifact, settings, offline)
        items.append(lock_item(artifact, entry))
    return {"format": LOCK_FORMAT, "tool": f"modelhub {__version__}", "artifacts": items}


def read_lock(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    try:
        data = json.loads(p.read_bytes())
    except OSError as exc:
        raise LockError(f"{p}: cannot read the lock file ({exc.strerror})") from exc
    except ValueError as exc:
        raise LockError(f"{p}: not a modelhub lock file (invalid JSON: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != LOCK_FORMAT:
        raise LockError(f"{p}: not a modelhub lock file (format {LOCK_FORMAT} expected)")
    items = data.get("artifacts")
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and {"name", "key", "files"} <= i.keys() for i in items
    ):
        raise LockError(f"{p}: malformed 'artifacts' list")
    return items


def _file_set(files: Sequence[Any]) -> set[tuple[str, int, str]]:
    out = set()
    for f in files:
        if isinstance(f, FileRecord):
            out.add((f.path, f.size, f.sha256))
        else:
            out.add((str(f["path"]), int(f["size"]), str(f["sha256"])))
    return out


def _differs(item: dict[str, Any], entry: Entry) -> IntegrityError | None:
    want, have = _file_set(item["files"]), _file_set(entry.manifest.files)
    if want == have:
        return None
    wrong = sorted({p for p, _, _ in want ^ have})
    return IntegrityError(
        f"{item['name']} [{item['key']}]: the cached files differ from the lock "
        f"({', '.join(wrong[:5])}{' ...' if len(wrong) > 5 else ''})",
        artifact=item["key"],
        expected=", ".join(sorted(f"{p}:{h[:12]}" for p, _, h in want if p in wrong)[:3]),
        actual=", ".join(sorted(f"{p}:{h[:12]}" for p, _, h in have if p in wrong)[:3]),
    )


def pull_locked(
    lock: str | Path,
    *,
    settings: Any = None,
    offline: bool | None = None,
    verify: bool = False,
) -> list[Any]:
    """Installs exactly what the lock file records; returns the
    :class:`~modelhub.registry.pull.PullResult` of each.

    Each model must resolve to the recorded artifact (same cache key), and
    the installed files must be the recorded ones (path, size, sha256); a
    cached entry that differs is left alone and reported.  A download is
    fetched at the recorded Hugging Face commit (not what the branch names
    now), single objects (zips) are checked against the recorded sha256, and
    every source's files against the recorded ones before anything is
    installed, so wrong bytes never get into the cache."""
    from modelhub.registry.pull import pull_result

    settings = _settings(settings)
    items = read_lock(lock)
    store = Store.from_settings(settings)
    results = []
    for item in items:
        artifact = _resolve(item["name"], item.get("language"), item.get("artifact"), settings)
        if artifact.key != item["key"]:
            raise IntegrityError(
                f"{item['name']} ({item.get('language')}) resolves to {artifact.key}, but the "
                f"lock {lock} records {item['key']}; the catalog changed: add the card or "
                "metadata that provides the locked artifact, or make a new lock",
                artifact=item["name"],
                expected=item["key"],
                actual=artifact.key,
            )
        before = store.lookup(artifact.key)
        if before is not None and (problem := _differs(item, before)) is not None:
            raise problem
        if item.get("sha256"):
            artifact = replace(artifact, sha256=item["sha256"])
        result = pull_result(
            artifact,
            offline=offline,
            verify=verify,
            settings=settings,
            commit=item.get("commit"),
            expected_files=[
                FileRecord(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in item["files"]
            ],
        )
        problem = _differs(item, result.entry)  # e.g. installed meanwhile by another process
        if problem is not None:
            raise problem
        results.append(result)
    return results
