"""Safe zip extraction into a private staging directory.

Before anything is written every member name is checked: absolute paths,
``..`` components, drive letters, backslash tricks, symlinks and special
files are refused; the member count, the declared total size and each
member's compression ratio are capped (zip bombs).  While extracting, the
bytes actually written are counted against the same caps (a lying header
cannot get past them) and every member's CRC-32 is checked by :mod:`zipfile`
as its last byte is read; the SHA-256 for the manifest is computed in the
same pass.  Any failure removes the staging directory, so nothing is ever
installed from a bad archive.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from modelhub.config import KNOBS
from modelhub.errors import IntegrityError, UnsafeArchiveError
from modelhub.registry.store.layout import is_disk_full
from modelhub.registry.store.manifest import FileRecord

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ExtractLimits:
    max_total: int = 64 << 30  # bytes uncompressed
    max_members: int = 200_000
    max_ratio: float = 200.0  # uncompressed / compressed, for members > ratio_floor
    ratio_floor: int = 1 << 20


def safe_member_path(name: str) -> str | None:
    """The normalised relative path of a member (``""`` for the root);
    raises ValueError naming the problem for an unsafe one."""
    if "\x00" in name:
        raise ValueError("NUL in name")
    n = name.replace("\\", "/")
    if n.startswith("/") or _DRIVE.match(n):
        raise ValueError("absolute path")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError("'..' component")
    return "/".join(parts)


def _check_members(infos: list[zipfile.ZipInfo], artifact: str, limits: ExtractLimits) -> None:
    def unsafe(msg: str, info: zipfile.ZipInfo | None = None) -> UnsafeArchiveError:
        where = f" member {info.filename!r}" if info is not None else ""
        return UnsafeArchiveError(
            f"{artifact}: unsafe archive:{where} {msg}; nothing was installed",
            artifact=artifact,
        )

    if len(infos) > limits.max_members:
        raise unsafe(
            f"{len(infos)} members (limit {limits.max_members}; "
            f"{KNOBS['extract_max_files'].env} raises it for an archive you trust)"
        )
    total = 0
    seen: set[str] = set()
    for info in infos:
        try:
            rel = safe_member_path(info.filename)
        except ValueError as exc:
            raise unsafe(str(exc), info) from None
        if rel and not info.is_dir():
            if rel in seen:
                raise unsafe("appears twice", info)
            seen.add(rel)
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode:  # Unix attributes present
            ftype = stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                raise unsafe("is a symbolic link", info)
            if ftype and ftype not in (stat.S_IFREG, stat.S_IFDIR):
                raise unsafe("is a special file (device, fifo or socket)", info)
        total += info.file_size
        if total > limits.max_total:
            raise unsafe(
                f"expands to more than {limits.max_total} bytes "
                f"({KNOBS['extract_max_gb'].env} raises the limit for an archive you trust)"
            )
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            1, info.compress_size
        ):
            raise unsafe(
                f"compression ratio {info.file_size / max(1, info.compress_size):.0f}:1 "
                f"exceeds {limits.max_ratio:.0f}:1 ({KNOBS['extract_max_ratio'].env} raises "
                "the limit for an archive you trust)",
                info,
            )


def extract_zip(
    zip_path: Path, dest: Path, *, artifact: str, limits: ExtractLimits | None = None
) -> list[FileRecord]:
    """Extracts ``zip_path`` into the (empty, private) ``dest``; returns the
    files with sizes and SHA-256.  On failure ``dest`` is removed."""
    limits = limits or ExtractLimits()
    try:
        return _extract(zip_path, dest, artifact, limits)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _extract(zip_path: Path, dest: Path, artifact: str, limits: ExtractLimits) -> list[FileRecord]:
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntegrityError(
            f"{artifact}: not a readable zip archive ({exc})", artifact=artifact
        ) from exc
    records: list[FileRecord] = []
    written = 0
    with zf:
        infos = zf.infolist()
        _check_members(infos, artifact, limits)
        for info in infos:
            rel = safe_member_path(info.filename) or ""
            if info.is_dir() or not rel:
                if rel:
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            size = 0
            try:
                with zf.open(info) as src, open(target, "xb") as out:
                    while True:
                        data = src.read(1 << 20)
                        if not data:
                            break
                        size += len(data)
                        written += len(data)
                        if size > info.file_size or written > limits.max_total:
                            raise UnsafeArchiveError(
                                f"{artifact}: unsafe archive: member {rel!r} expands beyond "
                                "its declared size",
                                artifact=artifact,
                            )
                        h.update(data)
                        out.write(data)
            except (zipfile.BadZipFile, zlib_error()) as exc:
                raise IntegrityError(
                    f"{artifact}: zip member {rel!r} is corrupt ({exc}); nothing was installed",
                    artifact=artifact,
                    expected="valid CRC-32",
                    actual=str(exc),
                ) from exc
            except OSError as exc:
                if is_disk_full(exc):
                    from modelhub.errors import CacheError

                    raise CacheError(
                        f"disk full while extracting {artifact} into {dest.parent}; free some "
                        "space and pull again (nothing was installed)"
                    ) from exc
                raise
            if size != info.file_size:
                raise IntegrityError(
                    f"{artifact}: zip member {rel!r} has {size} bytes, header says "
                    f"{info.file_size}",
                    artifact=artifact,
                    expected=str(info.file_size),
                    actual=str(size),
                )
            records.append(FileRecord(rel, size, h.hexdigest()))
    os.chmod(dest, 0o755)
    return records


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
