"""Safe zip extraction into a private staging directory.

Before anything is written every member is checked by
:func:`modelhub.safezip.check_members` (the checks and caps every zip
modelhub opens is held to): absolute paths, ``..`` components, drive
letters, backslash tricks, symlinks, special files, encryption, unreadable
compression methods, undecodable or overlong names and a name that is both
a file and a folder are refused; the member count, the declared total
size, each member's and the whole archive's compression ratio are capped
(zip bombs).  While extracting, the
bytes actually written are counted against the same caps (a lying header
cannot get past them) and every member's CRC-32 is checked by :mod:`zipfile`
as its last byte is read; the SHA-256 for the manifest is computed in the
same pass.  Any failure removes the staging directory, so nothing is ever
installed from a bad archive.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

from modelhub.errors import IntegrityError, UnsafeArchiveError
from modelhub.registry.store.layout import is_disk_full
from modelhub.registry.store.manifest import FileRecord
from modelhub.safezip import ZipLimits, check_members, open_zip

# The caps are the ones every zip modelhub opens is held to (modelhub.safezip).
ExtractLimits = ZipLimits

_TAIL = "; nothing was installed"


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
    zf = open_zip(zip_path, label=artifact, tail=_TAIL)
    records: list[FileRecord] = []
    written = 0
    with zf:
        members = check_members(zf, label=artifact, limits=limits, tail=_TAIL)
        for info, rel in members:
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
            except (zipfile.BadZipFile, EOFError, zlib_error()) as exc:
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
