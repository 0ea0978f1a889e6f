"""Offline verification of cache entries: re-hashes every file against its
manifest on a thread pool (:func:`verify`, :func:`hash_entries`).  Repair is
passed in by the caller (:data:`Repairer`): the store never fetches."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelhub.config import Settings
from modelhub.errors import ModelhubError
from modelhub.registry import files
from modelhub.registry.store.inventory import (
    open_store,
    record_verification,
    select,
)
from modelhub.registry.store.manifest import Entry, FileProblem, FileRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """One entry re-hashed: ``problems`` as found; ``repaired`` when
    ``--repair`` replaced the bad files (``replaced``); ``error`` when the
    repair failed."""

    key: str
    name: str
    language: str | None
    version: str | None
    files: int
    bytes: int
    problems: tuple[FileProblem, ...] = ()
    repaired: bool = False
    replaced: tuple[str, ...] = ()
    transferred: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems or (self.repaired and self.error is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "language": self.language,
            "version": self.version,
            "files": self.files,
            "bytes": self.bytes,
            "ok": self.ok,
            "problems": [
                {"path": p.path, "problem": p.problem, "expected": p.expected, "actual": p.actual}
                for p in self.problems
            ],
            "repaired": self.repaired,
            "replaced": list(self.replaced),
            "transferred": self.transferred,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    results: tuple[VerifyResult, ...]
    bytes: int
    seconds: float
    workers: int = 1

    @property
    def damaged(self) -> tuple[VerifyResult, ...]:
        return tuple(r for r in self.results if r.problems)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": len(self.results),
            "damaged": len(self.damaged),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
            "results": [r.to_dict() for r in self.results],
        }


def hash_file(path: Path) -> tuple[str | None, int]:
    """(sha256 hex or None when missing / not a regular file, size), never
    following a link (:func:`modelhub.registry.files.hash_file`)."""
    try:
        got = files.hash_file(path, nofollow=True)
    except OSError:
        return None, 0
    return got.sha256, got.size


def _check_file(base: Path, f: FileRecord) -> FileProblem | None:
    parts = f.path.split("/")
    if f.path.startswith("/") or ".." in parts:
        return FileProblem(f.path, "unsafe path")
    # Every directory on the way must be real: a link could lead out of the cache.
    cur = base
    for part in parts[:-1]:
        cur = cur / part
        if cur.is_symlink():
            return FileProblem(f.path, "missing")
    digest, size = hash_file(base / f.path)
    if digest is None:
        return FileProblem(f.path, "missing")
    if size != f.size:
        return FileProblem(f.path, "size", str(f.size), str(size))
    if digest != f.sha256:
        return FileProblem(f.path, "sha256", f.sha256, digest)
    return None


def hash_entries(
    entries: Sequence[Entry], *, workers: int | None = None
) -> tuple[list[list[FileProblem]], int]:
    """Re-hashes every file of ``entries`` on a thread pool (hashlib
    releases the GIL); per entry its problems in manifest order, and the bytes read."""
    tasks: list[tuple[int, int, Path, FileRecord]] = []
    for i, e in enumerate(entries):
        base = e.path
        if base.is_symlink():
            continue  # handled below: every file counts as missing
        for j, f in enumerate(e.manifest.files):
            tasks.append((i, j, base, f))
    tasks.sort(key=lambda t: -t[3].size)  # big files first: the pool ends together
    n = workers or min(8, (os.cpu_count() or 2) + 1)
    results: dict[tuple[int, int], FileProblem | None] = {}
    if n <= 1 or len(tasks) <= 1:
        for i, j, base, f in tasks:
            results[(i, j)] = _check_file(base, f)
    else:
        # Workers pull the next file from a shared index: no per-file future
        # (thousands of small files would spend more time in the pool than
        # in hashing); results land in the dict under distinct keys.
        counter = iter(range(len(tasks)))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    k = next(counter, None)
                if k is None:
                    return
                i, j, base, f = tasks[k]
                results[(i, j)] = _check_file(base, f)

        threads = [
            threading.Thread(target=work, name=f"modelhub-verify-{t}", daemon=True)
            for t in range(min(n, len(tasks)))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    out: list[list[FileProblem]] = []
    total = 0
    for i, e in enumerate(entries):
        problems = []
        for j, f in enumerate(e.manifest.files):
            if (i, j) not in results:
                problems.append(FileProblem(f.path, "missing"))
                continue
            p = results[(i, j)]
            if p is None:
                total += f.size
            else:
                problems.append(p)
        out.append(problems)
    return out, total


def verify(
    names: Sequence[str] = (),
    *,
    lang: str | None = None,
    version: str | None = None,
    repair: Repairer | None = None,
    workers: int | None = None,
    settings: Settings | None = None,
) -> VerifyReport:
    """Re-hashes entries against their manifests, offline.  ``names`` empty:
    every entry.  With ``repair`` (:func:`modelhub.registry.repair.repair_entry`,
    passed in by the caller: the store does not fetch), each damaged entry
    gets its bad files fetched again."""
    store = open_store(settings)
    all_entries = list(store.entries())
    if names or lang or version:
        from modelhub.registry.store.inventory import entry_row

        keep = {
            r.key
            for r in select(
                (entry_row(e, check=False) for e in all_entries),
                names,
                lang=lang,
                version=version,
            )
        }
        all_entries = [e for e in all_entries if e.key in keep]
    t0 = time.monotonic()
    n = workers or min(8, (os.cpu_count() or 2) + 1)
    problems_per, nbytes = hash_entries(all_entries, workers=n)
    seconds = time.monotonic() - t0
    results = []
    for entry, problems in zip(all_entries, problems_per, strict=True):
        record = (entry.manifest.artifact or {}).get("record") or {}
        base = VerifyResult(
            key=entry.key,
            name=str(record.get("name") or entry.key),
            language=record.get("language"),
            version=record.get("lib_version") or (entry.manifest.commit or "")[:12] or None,
            files=len(entry.manifest.files),
            bytes=entry.manifest.size,
            problems=tuple(problems),
        )
        record_verification(entry, problems)
        if problems:
            log.warning(
                "%s: %s",
                entry.key,
                ", ".join(f"{p.path}: {p.problem}" for p in problems),
            )
        if problems and repair:
            base = _repair(repair, entry, problems, base)
        results.append(base)
    return VerifyReport(tuple(results), nbytes, seconds, n)


class Repaired(Protocol):
    """What a repairer reports (a :class:`modelhub.registry.results.PullResult`)."""

    entry: Entry
    replaced: tuple[str, ...]
    transferred: int


Repairer = Callable[[Entry, list[FileProblem]], Repaired]
"""Fetches the bad files of an entry again and installs the mended entry."""


def _repair(
    repair: Repairer, entry: Entry, problems: list[FileProblem], base: VerifyResult
) -> VerifyResult:
    from dataclasses import replace

    try:
        r = repair(entry, problems)
    except ModelhubError as exc:
        return replace(base, error=str(exc))
    record_verification(r.entry, [])
    return replace(base, repaired=True, replaced=r.replaced, transferred=r.transferred)
