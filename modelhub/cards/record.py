"""The typed metadata record a model card becomes.

The JSON keys of :meth:`ModelCard.to_dict` are a public contract (``modelhub card
--json``, the catalog index, export manifests): add keys, never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

UpstreamKind = Literal["huggingface", "url"]


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the weights came from before they were packaged.

    ``kind="huggingface"`` carries ``repo`` (``owner/name``) and optionally
    ``revision``; ``kind="url"`` carries ``url``.
    """

    kind: UpstreamKind
    repo: str | None = None
    url: str | None = None
    revision: str | None = None

    def to_dict(self) -> dict[str, str]:
        out: dict[str, str] = {"kind": self.kind}
        if self.repo is not None:
            out["repo"] = self.repo
        if self.url is not None:
            out["url"] = self.url
        if self.revision is not None:
            out["revision"] = self.revision
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Upstream:
        return cls(
            kind=data["kind"],
            repo=data.get("repo"),
            url=data.get("url"),
            revision=data.get("revision"),
        )

    def __str__(self) -> str:
        return f"{self.kind}:{self.repo if self.kind == 'huggingface' else self.url}"


_TUPLE_FIELDS = frozenset(
    {"tags", "input_labels", "output_labels", "nlu_refs", "references", "warnings"}
)


@dataclass(frozen=True, slots=True)
class ModelCard:
    """One model card, normalised. ``None`` or ``()`` where the card says nothing."""

    name: str
    title: str | None = None
    author: str | None = None
    date: str | None = None  # ISO 8601 date, YYYY-MM-DD
    task: str | None = None
    language: str | None = None
    edition: str | None = None  # as written, e.g. "Spark NLP 3.4.0"
    lib_version: str | None = None  # "3.4.0"
    spark_version: str | None = None  # "3.0"
    annotator: str | None = None
    engine: str | None = None
    tags: tuple[str, ...] = ()
    supported: bool | None = None
    license: str | None = None
    edition_kind: str | None = None  # "Official", "Community", ...
    input_labels: tuple[str, ...] = ()
    output_labels: tuple[str, ...] = ()
    case_sensitive: bool | None = None
    dimension: int | None = None
    max_sentence_length: int | None = None  # word pieces, the table's "Max sentence length"
    size_mb: float | None = None
    download_url: str | None = None
    s3_uri: str | None = None
    folder: str | None = None  # "public/models", "clinical/models", ...
    artifact: str | None = None  # zip file name
    timestamp: int | None = None  # epoch ms, from the artifact name
    upstream: Upstream | None = None
    nlu_refs: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    citation: str | None = None
    description: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)
    path: str | None = field(default=None, compare=False)  # file the card came from

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with the contract's keys, in declaration order."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _TUPLE_FIELDS:
                value = list(value)
            elif f.name == "upstream" and value is not None:
                value = value.to_dict()
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so newer
        records still load in older versions."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in _TUPLE_FIELDS:
                value = tuple(value or ())
            elif f.name == "upstream" and value is not None:
                value = Upstream.from_dict(value)
            kwargs[f.name] = value
        return cls(**kwargs)

    def with_changes(self, **changes: Any) -> ModelCard:
        return replace(self, **changes)


CARD_KEYS: tuple[str, ...] = tuple(f.name for f in fields(ModelCard))
