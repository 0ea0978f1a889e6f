"""Which installed loader runs which Spark NLP embeddings annotator with which engine: the
matrix ``modelhub loaders`` prints and ``bench/coverage.py`` counts cards with.

A loader serves ``(annotator, engine)`` when it declares the annotator (``annotators``)
and the engine (``engines``); the rows are the transformer annotators of
:mod:`modelhub.loaders.sparknlp.families`, the columns Spark NLP's three engines plus
``huggingface`` (the upstream model as a Hugging Face directory, which loaders declaring
the ``transformers`` engine run). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from modelhub.loaders.base import Loader
from modelhub.loaders.sparknlp.families import ENGINE_SUFFIXES, transformer_families

#: Spark NLP's engines, then the upstream Hugging Face directory.
COLUMNS: tuple[str, ...] = (*ENGINE_SUFFIXES, "huggingface")
#: What a loader declares in ``engines`` to run Hugging Face directories.
_HF_ENGINE = "transformers"


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One annotator: ``cells[engine]`` is the names of the loaders that run it with that
    engine (best first); ``None`` where Spark NLP has no such engine for it."""

    annotator: str
    family: str
    cells: dict[str, tuple[str, ...] | None]


def loaders_for(annotator: str, engine: str, loaders: Iterable[Loader]) -> tuple[str, ...]:
    """The names of ``loaders`` whose declared pairs (:meth:`Loader.served`) hold
    ``annotator`` with ``engine`` (a Spark NLP engine or ``"huggingface"``), in the order
    given."""
    wanted = (annotator.lower(), _HF_ENGINE if engine == "huggingface" else engine.lower())
    return tuple(
        lo.name
        for lo in loaders
        if lo.annotators and wanted in {(a.lower(), e.lower()) for a, e in lo.served()}
    )


def matrix(loaders: Sequence[Loader]) -> list[MatrixRow]:
    """One row per transformer annotator of the families table, in its order."""
    rows: list[MatrixRow] = []
    for fam in transformer_families():
        cells: dict[str, tuple[str, ...] | None] = {}
        for column in COLUMNS:
            if column != "huggingface" and column not in fam.engines:
                cells[column] = None
            else:
                cells[column] = loaders_for(fam.annotator, column, loaders)
        rows.append(MatrixRow(fam.annotator, fam.family, cells))
    return rows


__all__ = ["COLUMNS", "MatrixRow", "loaders_for", "matrix"]
