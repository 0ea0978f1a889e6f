"""Where an artifact's bytes come from: one module per kind of source, and
this table of them.

A source module defines one fetcher, ``fetch(ctx, source) -> Fetched``
(:class:`Fetcher`), and registers it here with its kind, its priority (lower
is tried first), the URL schemes it also serves and whether it is local (reads
this machine's files, never the network: the only kinds offline mode uses).  Adding a source is one
module plus one :func:`register` line below; :mod:`modelhub.registry.fetch.fetcher`
orders an artifact's sources by priority and asks :func:`fetcher_for` for each.
Fetchers are named as ``"module:function"`` and imported on first use, so
boto3 and huggingface_hub stay off the start of ``import modelhub``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from modelhub.errors import FetchError

if TYPE_CHECKING:
    from modelhub.registry.artifact import Source
    from modelhub.registry.fetch.sources.base import FetchContext, Fetched

LOCAL = "local"
"""The ``--source`` choice for every source on this machine (mirror, file, package)."""
HTTP = "http"
HF = "hf"


class Fetcher(Protocol):
    """Fetches one source of ``ctx.artifact`` into a verified staging directory."""

    def __call__(self, ctx: FetchContext, source: Source, /) -> Fetched: ...


@dataclass(frozen=True, slots=True)
class SourceType:
    kind: str
    target: str  # "package.module:function"
    priority: int  # lower first
    schemes: tuple[str, ...] = ()  # URL schemes served whatever the kind says
    group: str | None = None  # the `--source` choice that also selects this kind
    # False: a source of this kind goes where its URL's scheme says (an
    # "https" source whose location is s3:// is fetched by the S3 source)
    kind_decides: bool = True
    local: bool = False  # on this machine: tried offline, never opens a socket

    def load(self) -> Fetcher:
        module, _, name = self.target.partition(":")
        fetcher: Fetcher = getattr(importlib.import_module(module), name)
        return fetcher


_TYPES: dict[str, SourceType] = {}


def register(
    kind: str,
    target: str,
    *,
    priority: int,
    schemes: tuple[str, ...] = (),
    group: str | None = None,
    kind_decides: bool = True,
    local: bool = False,
) -> None:
    """Adds (or replaces) the fetcher for ``kind``; ``local``: it reads only
    this machine (offline mode tries it, a network failure cannot be its)."""
    _TYPES[kind] = SourceType(kind, target, priority, schemes, group, kind_decides, local)


def priority(kind: str) -> int:
    """The order in which a kind is tried; unknown kinds last."""
    found = _TYPES.get(kind)
    return found.priority if found is not None else 99


def kinds(choice: str) -> set[str]:
    """The kinds a ``--source`` choice selects (``local``: every local kind)."""
    grouped = {t.kind for t in _TYPES.values() if t.group == choice}
    return grouped or {choice}


def source_type(source: Source) -> SourceType | None:
    """What serves ``source``: its kind, else its URL's scheme."""
    found = _TYPES.get(source.kind)
    if found is None or not found.kind_decides:
        scheme = source.location.partition("://")[0].lower() if "://" in source.location else ""
        found = next((t for t in _TYPES.values() if scheme and scheme in t.schemes), None)
    return found


def is_local(source: Source) -> bool:
    """Whether ``source`` is read from this machine (no network)."""
    found = source_type(source)
    return found is not None and found.local


def fetcher_for(source: Source) -> Fetcher:
    """The fetcher for ``source``: by its kind, else by its URL's scheme."""
    found = source_type(source)
    if found is None:
        raise FetchError(f"unsupported source {source.kind}:{source.location}", url=source.location)
    return found.load()


_HERE = __name__
_LOCAL = f"{_HERE}.local:fetch_local"
register("mirror", _LOCAL, priority=0, group=LOCAL, local=True)
register("file", _LOCAL, priority=0, schemes=("file",), group=LOCAL, local=True)
register("package", _LOCAL, priority=0, schemes=("package",), group=LOCAL, local=True)
register("s3", f"{_HERE}.s3:fetch_s3", priority=1, schemes=("s3",))
register(
    "https",
    f"{_HERE}.http:fetch_http",
    priority=2,
    schemes=("http", "https"),
    group=HTTP,
    kind_decides=False,
)
register(HF, f"{_HERE}.hf:fetch_hf", priority=3)
