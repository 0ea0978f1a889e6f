"""Derived folders: files modelhub computes from a model (an ONNX export), kept
next to it and verified like a download.

A derived folder is ``<parent>/<name>/`` holding its files and ``derived.json``
(the manifest: each file's size and SHA-256, plus what the writer recorded).
It is built under a temporary name in the same parent, every file and the
manifest fsync'ed, then renamed into place in one step: a reader sees the whole
folder or none, never a half-written file. When two processes derive the same
folder at once, the first rename wins and the second discards its copy and
uses the winner's. A folder whose files no longer match the manifest is
damaged: readers discard it (so it is derived again), ``modelhub cache verify``
reports it and ``--repair`` deletes it.

Used by the loaders (which write and read them) and by the registry (which
verifies and deletes them with their cache entry); imports neither.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.saferead import read_json
from modelhub.safezip import safe_member_path

log = logging.getLogger(__name__)

#: The folder of a cache entry (``entries/<id>/derived/``) that holds its derived folders.
DERIVED_DIR = "derived"
MANIFEST_NAME = "derived.json"
FORMAT = 1
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
# A temporary folder this old was left by a process that died while deriving.
STALE_TMP_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class DerivedProblem:
    """Something wrong with one derived folder (or a leftover in its parent)."""

    path: Path
    problem: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "problem": self.problem}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


#: The most bytes a manifest or a digest memo may hold: they are small; a bigger one is damage.
MAX_JSON_BYTES = 64 << 20


def file_stamp(path: Path) -> list[int]:
    """Size, mtime and inode: what changes when a file is rewritten or replaced."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def digest_files(files: dict[str, Path], memo: Path | None) -> str:
    """One SHA-256 over ``files`` (name -> path: each name, size and SHA-256), memoised in
    the JSON file ``memo`` by the files' stamps, so that only a changed file set is hashed
    again. A memo that cannot be written (a read-only cache) just costs the hashing.
    Raises ``OSError`` when a file cannot be read."""
    stamps = {name: file_stamp(path) for name, path in files.items()}
    if memo is not None:
        with contextlib.suppress(OSError, ValueError, TypeError):
            data = read_json(memo, limit=MAX_JSON_BYTES)
            found = data.get("sha256") if isinstance(data, dict) else None
            if isinstance(found, str) and data.get("stamps") == stamps:
                return found
    h = hashlib.sha256()
    for name, path in files.items():
        h.update(f"{name}\0{path.stat().st_size}\0{sha256_file(path)}\n".encode())
    digest = h.hexdigest()
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"stamps": stamps, "sha256": digest}), encoding="utf-8")
            os.replace(tmp, memo)
        except OSError as exc:
            log.debug("cannot memoise the digest in %s: %s", memo, exc)
    return digest


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _files(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != MANIFEST_NAME:
            yield p


def write_folder(parent: Path, name: str, build: Callable[[Path], dict[str, Any]]) -> Path:
    """Build ``parent/name`` atomically: ``build(tmp)`` writes the files into
    an empty temporary folder and returns metadata for the manifest. Returns
    the final folder, which is another process's when it got there first."""
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / name
    tmp = parent / f"{_TMP_PREFIX}{name}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        meta = build(tmp)
        files: dict[str, dict[str, Any]] = {}
        for p in _files(tmp):
            _fsync_file(p)
            st = p.stat()
            files[p.relative_to(tmp).as_posix()] = {
                "size": st.st_size,
                "sha256": sha256_file(p),
                # Renaming the folder keeps each file's mtime: a load that finds the
                # same size and mtime skips re-hashing, as cache hits do.
                "mtime_ns": st.st_mtime_ns,
            }
        manifest = {"format": FORMAT, "created": time.time(), **meta, "files": files}
        target = tmp / MANIFEST_NAME
        with open(target, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if read_manifest(final) is None:
                raise
            # Another process renamed its copy into place first: use that one.
            log.debug("%s was derived by another process; discarding ours", final)
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        _fsync_dir(parent)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete derived folder, or None (absent, unreadable)."""
    try:
        data = read_json(folder / MANIFEST_NAME, limit=MAX_JSON_BYTES)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def check_folder(
    folder: Path, *, hashes: bool | str = True, manifest: dict[str, Any] | None = None
) -> list[str]:
    """What is wrong with a derived folder (empty: it matches its manifest).
    Sizes always; SHA-256 too with ``hashes=True``; with ``hashes="stamp"``
    only of a file whose mtime differs from the manifest's (any rewrite, as
    ``cache ls`` checks entries; ``cache verify`` re-hashes everything).
    ``manifest``: the one the caller read and will use (checked, not read again)."""
    if manifest is None:
        manifest = read_manifest(folder)
    if manifest is None:
        return [f"no readable {MANIFEST_NAME}"]
    problems = []
    if folder.is_symlink():  # whatever it points at is outside the cache's own folders
        return ["a symbolic link, not a derived folder"]
    inside = folder.resolve()
    for rel, want in sorted(manifest["files"].items()):
        if not _relative(rel):  # "/etc/passwd", "../x": never looked at
            problems.append(f"{rel!r}: not a name inside the folder")
            continue
        p = folder / rel
        if (
            not isinstance(want, dict)
            or p.is_symlink()
            or not p.is_file()
            # a linked folder on the way (engine/ -> elsewhere) leads out of the cache
            or not p.resolve().is_relative_to(inside)
        ):
            problems.append(f"{rel}: missing")
            continue
        size = p.stat().st_size
        if size != want.get("size"):
            problems.append(f"{rel}: {size} bytes, the manifest says {want.get('size')}")
        elif hashes == "stamp" and p.stat().st_mtime_ns == want.get("mtime_ns"):
            continue
        elif hashes and sha256_file(p) != want.get("sha256"):
            problems.append(f"{rel}: SHA-256 differs from the manifest (damaged)")
    return problems


def _relative(rel: object) -> bool:
    try:
        return isinstance(rel, str) and safe_member_path(rel) == rel and rel != ""
    except ValueError:
        return False


def discard(folder: Path) -> None:
    """Delete a derived folder: renamed out of the way first, so no reader
    ever opens it half deleted."""
    if folder.is_symlink():  # a link in its place: remove the link, never what it points at
        with contextlib.suppress(FileNotFoundError):
            folder.unlink()
        return
    trash = folder.parent / f"{_TRASH_PREFIX}{folder.name}-{secrets.token_hex(4)}"
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    except OSError:
        trash = folder
    shutil.rmtree(trash, ignore_errors=True)


def verify_tree(root: Path, *, hashes: bool = True) -> list[DerivedProblem]:
    """Problems of every derived folder under ``root`` (``entries/<id>/derived``),
    and leftovers of processes that died while deriving or deleting."""
    found: list[DerivedProblem] = []
    try:
        items = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return found
    now = time.time()
    for p in items:
        if p.name.startswith(_TRASH_PREFIX):
            found.append(DerivedProblem(p, "leftover of an interrupted delete"))
        elif p.name.startswith(_TMP_PREFIX):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > STALE_TMP_AFTER:
                    found.append(DerivedProblem(p, "leftover of an interrupted export"))
        elif p.is_dir() and not p.is_symlink():
            found.extend(DerivedProblem(p, msg) for msg in check_folder(p, hashes=hashes))
        elif p.is_file() and p.suffix == ".json":
            continue  # small memos beside the folders (source digests)
        else:
            found.append(DerivedProblem(p, "not a derived folder"))
    return found


def repair_tree(problems: list[DerivedProblem]) -> list[Path]:
    """Delete what :func:`verify_tree` found; returns what was removed. A
    removed derived folder is derived again on the next load."""
    removed = []
    for item in problems:
        if item.path.is_dir() and not item.path.is_symlink():
            discard(item.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                item.path.unlink()
        removed.append(item.path)
    return removed
