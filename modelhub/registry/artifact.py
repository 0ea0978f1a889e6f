"""What the catalog resolves a request to: one exact artifact and where its
bytes can be fetched from.

This is the interface between resolution (catalog) and fetching (sources,
cache): keep it backward compatible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelhub.cards.record import ModelCard

SourceKind = Literal["mirror", "package", "s3", "https", "hf", "file"]


def is_web_download(url: str | None) -> bool:
    """Whether ``url`` is a card's download link on an http(s) host."""
    return bool(url) and str(url).startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class Source:
    """One place an artifact's bytes can come from.

    ``location`` is a URL (``https://...``, ``http://...``, ``s3://bucket/key``,
    ``file:///...``), a Hugging Face repo id (``kind="hf"``), a mirror
    directory, or ``package:<module>/<path>``.
    """

    kind: SourceKind
    location: str
    revision: str | None = None  # Hugging Face revision (branch, tag or commit)

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "location": self.location}
        if self.revision:
            out["revision"] = self.revision
        return out


@dataclass(frozen=True, slots=True)
class Artifact:
    """A resolved artifact: the merged record plus fetch details.

    ``record`` is the merged metadata (card fields enriched by the metadata.json
    line); ``origins`` maps a record field to where its value came from
    (``"card:<path>"``, ``"metadata:<url>#L<n>"``, ``"artifact-name"``).
    """

    record: ModelCard
    sources: tuple[Source, ...] = ()
    ready_to_use: bool = True
    checksum: str | None = None  # MD5 hex, as metadata.json carries it
    sha256: str | None = None  # pinned by the user or a lock file
    size: int | None = None  # bytes, when known before fetching
    origins: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def language(self) -> str | None:
        return self.record.language

    @property
    def engine(self) -> str | None:
        return self.record.engine

    @property
    def key(self) -> str:
        """A stable identifier, used as the cache key: ``{folder}/{artifact}``
        for Spark NLP zips, ``hf/{repo}@{revision}`` for Hugging Face-only
        models, ``{name}_{lang}`` otherwise (and for a download link on any host whose file
        is not a Spark NLP zip name)."""
        r = self.record
        if r.artifact:
            return f"{r.folder or 'public/models'}/{r.artifact}"
        if is_web_download(r.download_url):
            # any file on any host, named by the card: its bytes are not the
            # Hugging Face upstream's, so not that key
            return f"{r.name}_{r.language or 'xx'}"
        hf = next((s for s in self.sources if s.kind == "hf"), None)
        if hf is not None:
            return f"hf/{hf.location}@{hf.revision or 'main'}"
        return f"{r.name}_{r.language or 'xx'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "record": self.record.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
            "ready_to_use": self.ready_to_use,
            "checksum": self.checksum,
            "sha256": self.sha256,
            "size": self.size,
            "origins": dict(self.origins),
        }
