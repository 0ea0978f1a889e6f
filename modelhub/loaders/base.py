"""The loader plugin interface.

A loader turns a verified local directory (a cache entry) plus its record into
a model object. Loaders are registered under the entry-point group
``modelhub.loaders``; the built-ins register the same way. This module must
stay free of torch/transformers imports: listing loaders is cheap.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."modelhub.loaders"]
    myloader = "mypackage.loader:MyLoader"

The entry point names a :class:`Loader` subclass (instantiated without
arguments) or a ready instance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from modelhub.cards.record import ModelCard


class Loader(ABC):
    """Base class of loaders.

    ``formats`` are the artifact layouts it reads (``"hf-transformers"``,
    ``"sparknlp-zip"``, ...), ``engines`` the record ``engine`` values it can
    run (``"tensorflow"``, ``"onnx"``, ``"pytorch"``), ``annotators`` the
    annotators/tasks it serves (empty: any). Higher ``priority`` wins when
    several accept the same artifact. ``summary`` is one line for people
    (``modelhub loaders``, ``NoLoaderError``) saying what it accepts.
    """

    name: ClassVar[str]
    priority: ClassVar[int] = 0
    formats: ClassVar[tuple[str, ...]] = ()
    engines: ClassVar[tuple[str, ...]] = ()
    annotators: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""
    #: Whether ``load`` takes ``derived_dir``: a folder (inside the cache entry) where
    #: the loader may keep files it derives from the model, such as an ONNX export,
    #: as :mod:`modelhub.derived` folders (``modelhub cache verify`` checks them).
    derives: ClassVar[bool] = False

    @abstractmethod
    def accepts(self, path: Path, record: ModelCard | None) -> str | None:
        """``None`` when this loader can load ``path``; otherwise a short reason
        why not (shown by ``NoLoaderError`` and ``modelhub loaders``)."""

    @abstractmethod
    def load(self, path: Path, record: ModelCard | None, **options: Any) -> Any:
        """Load the model at ``path``: an
        :class:`~modelhub.loaders.model.EmbeddingModel` for embedding loaders.
        Heavy imports belong here, not at module level. ``options`` always may
        hold ``device`` and ``dtype`` (``"auto"`` by default); unknown options
        should raise ``TypeError``."""

    def serves(self, annotator: str | None) -> bool:
        """Whether this loader serves ``annotator`` (``None`` or an empty
        ``annotators`` tuple: yes)."""
        if not annotator or not self.annotators:
            return True
        return annotator.lower() in {a.lower() for a in self.annotators}

    def served(self) -> tuple[tuple[str, str], ...]:
        """The (annotator, engine) pairs it runs: every annotator with every engine unless
        a loader knows better (empty ``annotators``: none named)."""
        return tuple((a, e) for a in self.annotators for e in self.engines)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "formats": list(self.formats),
            "engines": list(self.engines),
            "annotators": list(self.annotators),
            "served": [list(pair) for pair in self.served()],
            "summary": self.summary,
        }

    def accepts_text(self) -> str:
        """What this loader accepts, in words: its summary, else its formats
        and engines."""
        if self.summary:
            return self.summary
        parts = []
        if self.formats:
            parts.append("formats " + ", ".join(self.formats))
        if self.engines:
            parts.append("engines " + ", ".join(self.engines))
        return "; ".join(parts) or "(says nothing)"
