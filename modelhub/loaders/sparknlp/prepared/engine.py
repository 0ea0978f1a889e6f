"""A prepared engine's inflated members behind the :class:`~modelhub.safezip.SafeZip` face
the runners read through (:mod:`modelhub.loaders.sparknlp.prepared`), and the choice
between them and the zip itself."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np

from modelhub.safezip import SafeZip, member_name, zip_limits


class UnpackedEngine:
    """An engine zip's members as :func:`prepare` inflated them, behind the
    :class:`~modelhub.safezip.SafeZip` face the runners read through: members are named
    ``<engine zip path> / member``, exactly as in the zip, so messages name the zip."""

    def __init__(self, folder: Path, engine_file: Path) -> None:
        self.path = Path(engine_file)
        self.root = PurePosixPath(self.path.as_posix())
        self.folder = Path(folder)
        self._files = {
            p.relative_to(self.folder).as_posix(): p
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }

    def __enter__(self) -> UnpackedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to close: members are read whole, one at a time."""

    def files(self) -> list[PurePosixPath]:
        return [self.root / rel for rel in self._files]

    def file(self, member: str | PurePosixPath) -> Path:
        """The member's file (a regular file inside the prepared folder)."""
        rel = member_name(member, self.root, self.path)
        found = self._files.get(rel)
        if found is None:
            raise FileNotFoundError(f"{self.path}: no member {rel!r}")
        return found

    def open(self, member: str | PurePosixPath) -> IO[bytes]:
        return self.file(member).open("rb")

    def read(self, member: str | PurePosixPath) -> bytes:
        return self.file(member).read_bytes()

    def read_writable(self, member: str | PurePosixPath) -> np.ndarray:
        """The member's bytes in a private writable buffer (uint8, not zero-filled first):
        arrays over it (checkpoint tensors) become torch parameters without a copy."""
        path = self.file(member)
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data = np.empty(size, dtype=np.uint8)
            if fh.readinto(memoryview(data)) != size:
                raise OSError(f"{path}: changed while being read")
        return data


def open_engine(engine_file: Path, unpacked: Path | None = None) -> SafeZip | UnpackedEngine:
    """The engine's members: from the prepared folder ``unpacked`` when there is one, else
    from the zip in place (checked under the ``MODELHUB_EXTRACT_MAX_*`` caps)."""
    if unpacked is not None:
        return UnpackedEngine(unpacked, engine_file)
    return SafeZip(engine_file, limits=zip_limits(), label=str(engine_file))


__all__ = ["UnpackedEngine", "open_engine"]
