"""What a pull or a repair reports (:class:`PullResult`), the progress
callback type, and the manifest a fetched artifact is installed with."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.store.manifest import Entry, Manifest

if TYPE_CHECKING:
    pass


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullResult:
    path: Path  # the ready directory
    entry: Entry
    cache_hit: bool
    source: Source | None  # what served a download (None on a hit)
    transferred: int  # bytes fetched
    seconds: float
    repaired: bool = False
    replaced: tuple[str, ...] = ()  # on a repair: the files that were bad and replaced

    def to_dict(self) -> dict[str, Any]:
        m = self.entry.manifest
        return {
            "key": self.entry.key,
            "path": str(self.path),
            "cache_hit": self.cache_hit,
            "repaired": self.repaired,
            "replaced": list(self.replaced),
            "source": self.source.to_dict() if self.source else m.source,
            "transferred": self.transferred,
            "seconds": round(self.seconds, 3),
            "size": m.size,
            "files": len(m.files),
            "commit": m.commit,
        }


def _manifest_for(key: str, fetched: Any, artifact: Artifact) -> Manifest:
    return Manifest(
        key=key,
        content="",
        files=tuple(fetched.files),
        kind=fetched.kind,
        source=fetched.source.to_dict(),
        download=fetched.download,
        commit=fetched.commit,
        artifact=artifact.to_dict(),
    )
