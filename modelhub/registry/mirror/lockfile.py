"""Lock files for reproducible installs: :func:`make_lock` records, per
model, the exact artifact (cache key, source, commit) and every file's size
and sha256; :func:`pull_locked` fails when anything resolves or arrives
differently."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelhub.config import Settings
from modelhub.errors import IntegrityError, ModelhubError
from modelhub.registry.artifact import Artifact
from modelhub.registry.mirror.export import _pull, _resolve, _settings
from modelhub.registry.store.manifest import Entry, FileRecord, ManifestError, check_file_set
from modelhub.registry.store.store import Store
from modelhub.saferead import UnsafeFileError, read_json

log = logging.getLogger(__name__)

LOCK_FORMAT = 1


class LockError(ModelhubError):
    """A lock file cannot be read or does not fit the catalog."""


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
    settings: Settings | None = None,
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


LOCK_LIMIT = 64 << 20


def read_lock(path: str | Path) -> list[dict[str, Any]]:
    """The artifacts of a lock file, every field checked (a lock is data a
    user may have edited or been sent): strings where strings belong, file
    records as in a manifest (plain relative paths, sizes, sha256).  Any
    deviation is a :class:`LockError` naming the file and the field."""
    p = Path(path)
    try:
        data = read_json(p, limit=LOCK_LIMIT)
    except FileNotFoundError as exc:
        raise LockError(f"{p}: cannot read the lock file ({exc.strerror})") from exc
    except UnsafeFileError as exc:
        raise LockError(f"not a modelhub lock file: {exc}") from exc
    except OSError as exc:
        raise LockError(f"{p}: cannot read the lock file ({exc.strerror})") from exc
    if data.get("format") != LOCK_FORMAT or type(data.get("format")) is not int:
        raise LockError(f"{p}: not a modelhub lock file (format {LOCK_FORMAT} expected)")
    items = data.get("artifacts")
    if not isinstance(items, list):
        raise LockError(f"{p}: malformed 'artifacts' list (not a list)")
    return [_lock_item(p, n, item) for n, item in enumerate(items)]


def _lock_item(p: Path, n: int, item: Any) -> dict[str, Any]:
    where = f"{p}: artifacts[{n}]"
    if not isinstance(item, dict):
        raise LockError(f"{where} is a JSON {type(item).__name__}, not an object")
    out = dict(item)
    for field in ("name", "key"):
        if not isinstance(item.get(field), str) or not item[field]:
            raise LockError(f"{where}: '{field}' must be a non-empty string")
    for field in ("language", "lib_version", "artifact", "commit", "sha256"):
        if item.get(field) is not None and not isinstance(item[field], str):
            raise LockError(f"{where}: '{field}' must be a string or null")
    for field in ("source",):
        if item.get(field) is not None and not isinstance(item[field], dict):
            raise LockError(f"{where}: '{field}' must be an object or null")
    size = item.get("size")
    if size is not None and (type(size) is not int or size < 0):
        raise LockError(f"{where}: 'size' must be a non-negative integer or null")
    files = item.get("files")
    if not isinstance(files, list):
        raise LockError(f"{where}: 'files' must be a list")
    try:
        records = tuple(FileRecord.from_dict(f) for f in files)
        check_file_set(records)
    except ManifestError as exc:
        raise LockError(f"{where}: {exc}") from None
    out["files"] = [FileRecord(f.path, f.size, f.sha256) for f in records]
    return out


def _file_set(files: Sequence[Any]) -> set[tuple[str, int, str]]:
    out = set()
    for f in files:
        if isinstance(f, FileRecord):
            out.add((f.path, f.size, f.sha256))
        else:  # pragma: no cover - read_lock gives FileRecords
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
    settings: Settings | None = None,
    offline: bool | None = None,
    verify: bool = False,
) -> list[Any]:
    """Installs exactly what the lock file records; returns the
    :class:`~modelhub.registry.pulling.PullResult` of each.

    Each model must resolve to the recorded artifact (same cache key), and
    the installed files must be the recorded ones (path, size, sha256); a
    cached entry that differs is left alone and reported.  A download is
    fetched at the recorded Hugging Face commit (not what the branch names
    now), single objects (zips) are checked against the recorded sha256, and
    every source's files against the recorded ones before anything is
    installed, so wrong bytes never get into the cache."""
    from modelhub.registry.pulling import pull_result

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
            expected_files=item["files"],
        )
        problem = _differs(item, result.entry)  # e.g. installed meanwhile by another process
        if problem is not None:
            raise problem
        results.append(result)
    return results
