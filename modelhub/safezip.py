"""One set of caps and checks for every zip modelhub opens: a downloaded
Spark NLP zip before it is extracted into the cache, and the engine file
inside one (``bert_onnx``, ``bert_tensorflow``: itself a zip) when a loader
reads it.

Before a byte is read, every member is checked: its name (absolute paths,
``..`` components, drive letters, NUL, names that cannot be decoded, names
too long for a file system, a name that is both a file and a folder), its
type (symbolic links, devices, FIFOs), its features (encryption; only the
compression methods :mod:`zipfile` reads), and the caps: the member count,
the declared total size, each member's compression ratio and the whole
archive's ratio (many small members of zeros stay under any per-member
check).  :mod:`zipfile` never returns more than a member's declared size
(a longer stream fails its CRC), so these caps bound what reading can
produce; readers count the bytes anyway.

This module sits at the base of the package (next to :mod:`modelhub.errors`)
so that the registry and the loaders share it.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from modelhub.config import KNOBS
from modelhub.errors import IntegrityError, UnsafeArchiveError

if TYPE_CHECKING:
    from modelhub.config import Settings

_DRIVE = re.compile(r"^[A-Za-z]:")
# Methods zipfile can read: stored, deflate, bzip2, lzma.
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_METHOD_NAMES = {6: "implode", 9: "deflate64", 93: "zstandard", 95: "xz", 98: "ppmd", 99: "AES"}
NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 1024  # bytes in a member name: well under PATH_MAX with the cache root in front
VARS = {
    "total": KNOBS["extract_max_gb"].env,
    "members": KNOBS["extract_max_files"].env,
    "ratio": KNOBS["extract_max_ratio"].env,
}


@dataclass(frozen=True)
class ZipLimits:
    """The zip-bomb caps (settings ``MODELHUB_EXTRACT_MAX_*``)."""

    max_total: int = 64 << 30  # bytes uncompressed, the whole archive
    max_members: int = 200_000
    max_ratio: float = 200.0  # uncompressed / compressed: each member, and the whole archive
    ratio_floor: int = 1 << 20  # below this many bytes (a member, or all) no ratio is checked


def zip_limits(settings: Settings | None = None) -> ZipLimits:
    """The caps from the settings (``extract_max_gb``, ``extract_max_files``,
    ``extract_max_ratio``; validated by :mod:`modelhub.config`)."""
    if settings is None:
        from modelhub.config import load_settings

        settings = load_settings()
    return ZipLimits(
        max_total=settings.extract_max_bytes,
        max_members=settings.extract_max_files,
        max_ratio=settings.extract_max_ratio,
    )


def safe_member_path(name: str) -> str:
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
    encoded = [p.encode("utf-8", "surrogateescape") for p in parts]
    if any(len(p) > NAME_MAX for p in encoded):
        raise ValueError(f"a name component is longer than {NAME_MAX} bytes")
    if sum(len(p) + 1 for p in encoded) > PATH_MAX:
        raise ValueError(f"the name is longer than {PATH_MAX} bytes")
    return "/".join(parts)


def _unsafe(label: str, msg: str, member: str | None = None, tail: str = "") -> UnsafeArchiveError:
    where = f" member {member!r}" if member is not None else ""
    return UnsafeArchiveError(f"{label}: unsafe archive:{where} {msg}{tail}", artifact=label)


def open_zip(path: Path, *, label: str, tail: str = "") -> zipfile.ZipFile:
    """``zipfile.ZipFile(path)`` with typed errors: an unreadable or damaged
    archive is an IntegrityError, a member name flagged UTF-8 that is not
    UTF-8 an UnsafeArchiveError naming the raw name.  ``label`` names the
    archive in messages (the artifact, or the file); ``tail`` ends them."""
    try:
        return zipfile.ZipFile(path)
    except UnicodeDecodeError as exc:
        raw = exc.object if isinstance(exc.object, bytes) else b""
        shown = raw.decode("utf-8", "backslashreplace")
        raise UnsafeArchiveError(
            f"{label}: unsafe archive: member '{shown}' has the UTF-8 flag but its name is not "
            f"UTF-8{tail}",
            artifact=label,
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise IntegrityError(
            f"{label}: not a readable zip archive ({exc}){tail}", artifact=label
        ) from exc
    except NotImplementedError as exc:
        raise _unsafe(label, f"uses an unsupported zip feature ({exc})", None, tail) from exc


def check_members(
    zf: zipfile.ZipFile,
    *,
    label: str,
    limits: ZipLimits,
    archive_size: int | None = None,
    tail: str = "",
) -> list[tuple[zipfile.ZipInfo, str]]:
    """Every member with its safe relative path (``""``: the root folder),
    or UnsafeArchiveError naming the member and the cap to raise.
    ``archive_size`` (the archive's bytes; default: its file's size) is what
    the whole archive's ratio is measured against."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _unsafe(
            label,
            f"{len(infos)} members (limit {limits.max_members}; {VARS['members']} raises it "
            "for an archive you trust)",
            None,
            tail,
        )
    if archive_size is None and zf.filename:
        try:
            archive_size = os.path.getsize(zf.filename)
        except OSError:
            archive_size = None
    out: list[tuple[zipfile.ZipInfo, str]] = []
    total = 0
    tree = _Tree(label, tail)
    for info in infos:
        name = info.filename
        try:
            rel = safe_member_path(name)
        except ValueError as exc:
            raise _unsafe(label, str(exc), name, tail) from None
        _check_features(info, label, tail)
        tree.add(info, rel)
        total += info.file_size
        _check_sizes(info, total, limits, label, tail)
        out.append((info, rel))
    packed = archive_size if archive_size else sum(i.compress_size for i in infos)
    if total > limits.ratio_floor and total > limits.max_ratio * max(1, packed):
        raise _unsafe(
            label,
            f"the whole archive's compression ratio is {total / max(1, packed):.0f}:1 "
            f"({len(infos)} members, {total} bytes from {packed}), over "
            f"{limits.max_ratio:.0f}:1 ({VARS['ratio']} raises the limit for an archive you "
            "trust)",
            None,
            tail,
        )
    return out


def _check_features(info: zipfile.ZipInfo, label: str, tail: str) -> None:
    """Encryption, compression methods zipfile cannot read, links and special files."""
    name = info.filename
    if info.flag_bits & 0x1 or info.flag_bits & 0x40:
        raise _unsafe(label, "is encrypted (not supported)", name, tail)
    if info.compress_type not in _METHODS and not info.is_dir():
        method = _METHOD_NAMES.get(info.compress_type, "unknown")
        raise _unsafe(
            label,
            f"uses compression method {info.compress_type} ({method}), which modelhub cannot read",
            name,
            tail,
        )
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # Unix attributes present
        ftype = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise _unsafe(label, "is a symbolic link", name, tail)
        if ftype and ftype not in (stat.S_IFREG, stat.S_IFDIR):
            raise _unsafe(label, "is a special file (device, fifo or socket)", name, tail)


def _check_sizes(
    info: zipfile.ZipInfo, total: int, limits: ZipLimits, label: str, tail: str
) -> None:
    """The running total against the size cap, the member against the ratio cap."""
    if total > limits.max_total:
        raise _unsafe(
            label,
            f"expands to more than {limits.max_total} bytes ({VARS['total']} raises the "
            "limit for an archive you trust)",
            None,
            tail,
        )
    if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
        1, info.compress_size
    ):
        raise _unsafe(
            label,
            f"compression ratio {info.file_size / max(1, info.compress_size):.0f}:1 "
            f"exceeds {limits.max_ratio:.0f}:1 ({VARS['ratio']} raises the limit for an "
            "archive you trust)",
            info.filename,
            tail,
        )


class _Tree:
    """The names seen so far: a file may appear once and never be a folder too."""

    def __init__(self, label: str, tail: str) -> None:
        self.label, self.tail = label, tail
        self.files: set[str] = set()
        self.folders: set[str] = set()

    def add(self, info: zipfile.ZipInfo, rel: str) -> None:
        name = info.filename
        parts = rel.split("/") if rel else []
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if info.is_dir():
            if rel in self.files:
                raise _unsafe(self.label, "is both a file and a folder", name, self.tail)
            self.folders.update(parents + ([rel] if rel else []))
            return
        if not rel:
            return
        if rel in self.files:
            raise _unsafe(self.label, "appears twice", name, self.tail)
        if rel in self.folders:
            raise _unsafe(self.label, "is both a file and a folder", name, self.tail)
        clash = next((p for p in parents if p in self.files), None)
        if clash is not None:
            raise _unsafe(self.label, f"is inside {clash!r}, which is a file", name, self.tail)
        self.files.add(rel)
        self.folders.update(parents)


def member_name(member: str | PurePosixPath, root: PurePosixPath, archive: Path) -> str:
    """A member named relative to the archive, or as ``root / member`` (how
    :meth:`SafeZip.files` lists them), as a checked relative path;
    ``FileNotFoundError`` for a path outside ``root``."""
    p = PurePosixPath(member)
    if p.is_absolute():
        try:
            p = p.relative_to(root)
        except ValueError:
            raise FileNotFoundError(f"{member}: not in {archive}") from None
    return safe_member_path(str(p))


class SafeZip:
    """A zip opened for reading under :class:`ZipLimits`, every member
    checked up front; members are read into memory (nothing is written).

    ``root`` is the archive's path: members can be named relative to it or
    as ``root / member`` (what messages show)."""

    def __init__(self, path: Path, *, limits: ZipLimits | None = None, label: str | None = None):
        self.path = Path(path)
        self.root = PurePosixPath(self.path.as_posix())
        self.label = label or str(path)
        self.limits = limits or ZipLimits()
        self._zf = open_zip(self.path, label=self.label)
        try:
            checked = check_members(self._zf, label=self.label, limits=self.limits)
        except BaseException:
            self._zf.close()
            raise
        self._files = {rel: info for info, rel in checked if rel and not info.is_dir()}
        self._read = 0

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zf.close()

    def files(self) -> list[PurePosixPath]:
        """The regular members, as ``root / member``, in archive order."""
        return [self.root / rel for rel in self._files]

    def _rel(self, member: str | PurePosixPath) -> str:
        return member_name(member, self.root, self.path)

    def open(self, member: str | PurePosixPath) -> IO[bytes]:
        rel = self._rel(member)
        info = self._files.get(rel)
        if info is None:
            raise FileNotFoundError(f"{self.path}: no member {rel!r}")
        return self._zf.open(info)

    def read(self, member: str | PurePosixPath) -> bytes:
        """A member's bytes; FileNotFoundError (an OSError) when absent,
        IntegrityError when damaged, UnsafeArchiveError past the caps."""
        rel = self._rel(member)
        info = self._files.get(rel)
        if info is None:
            raise FileNotFoundError(f"{self.path}: no member {rel!r}")
        if self._read + info.file_size > self.limits.max_total:
            raise _unsafe(
                self.label, f"reads past {self.limits.max_total} bytes ({VARS['total']})", rel
            )
        try:
            with self._zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, EOFError, ValueError, _zlib_error()) as exc:
            raise IntegrityError(
                f"{self.label}: member {rel!r} is corrupt ({exc})", artifact=self.label
            ) from exc
        if len(data) != info.file_size:
            raise IntegrityError(
                f"{self.label}: member {rel!r} has {len(data)} bytes, its header says "
                f"{info.file_size}",
                artifact=self.label,
            )
        self._read += len(data)
        return data


def _zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


__all__ = [
    "NAME_MAX",
    "PATH_MAX",
    "SafeZip",
    "ZipLimits",
    "check_members",
    "open_zip",
    "safe_member_path",
    "zip_limits",
]
