"""Which embeddings cards of the corpus an installed loader can run, and why not the rest.

    python bench/coverage.py [CORPUS_DIR] [--all]

For every embeddings card of ``CORPUS_DIR/cards`` (default ``../shared/corpus``): its
annotator and engine (the card, else its row of ``metadata/full_models_metadata.csv``:
``model_class`` and engine tags, else TensorFlow for Spark NLP < 5.0, the only engine
before 5.0.0), the family from :mod:`modelhub.loaders.sparknlp.families`, and the
installed loader (entry-point group ``modelhub.loaders``) whose ``serves(annotator)`` and
``engines`` cover it, or why none does. Then the totals: embeddings cards,
transformer-family cards, those with a loader (count and %), per family. ``--all`` prints
every card's row (default: the table, then the totals). Exits 0 after printing, also when
the corpus is absent (it says so and skips).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelhub.cards import ModelCard, load_card  # noqa: E402
from modelhub.errors import CardError  # noqa: E402
from modelhub.loaders import Loader, installed_loaders  # noqa: E402
from modelhub.loaders.coverage import loaders_for  # noqa: E402
from modelhub.loaders.sparknlp.families import (  # noqa: E402
    ENGINE_SUFFIXES,
    engine_for_version,
    family_for,
    unserved_reason,
)

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
ENGINES = tuple(ENGINE_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Row:
    card: str  # the card's file name
    annotator: str | None
    engine: str | None
    engine_from: str  # "card", "metadata", "tags", "version" or "" (unknown)
    family: str | None
    kind: str | None  # "transformer", "unsupported", "static" or None (not in the table)
    loader: str | None  # the installed loader that runs it
    why_not: str  # empty when a loader runs it


def _metadata_rows(corpus: Path) -> dict[str, dict[str, str]]:
    table = corpus / "metadata" / "full_models_metadata.csv"
    if not table.is_file():
        return {}
    rows: dict[str, dict[str, str]] = {}
    with open(table, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            file = (row.get("file") or "").strip()
            if file:
                rows[file] = {k: (v or "").strip() for k, v in row.items() if k}
    return rows


def _engine_in(tags: Iterable[str]) -> str | None:
    found = {t.strip().lower() for t in tags} & set(ENGINES)
    return found.pop() if len(found) == 1 else None


def is_embeddings_card(card: ModelCard, annotator: str | None) -> bool:
    """An embeddings annotator (known to the families table or named ``*Embeddings``), or a
    card whose task is Embeddings (pipelines too: they are counted and said not to run)."""
    if family_for(annotator) is not None:
        return True
    if annotator and annotator.endswith("Embeddings"):
        return True
    return bool(card.task) and "embeddings" in str(card.task).lower()


def card_engine(card: ModelCard, meta: dict[str, str] | None) -> tuple[str | None, str]:
    if card.engine:
        return card.engine.lower(), "card"
    if meta is not None:
        tagged = _engine_in(meta.get("tags", "").replace(";", ",").split(","))
        if tagged:
            return tagged, "metadata"
    tagged = _engine_in(card.tags)
    if tagged:
        return tagged, "tags"
    inferred = engine_for_version(card.lib_version)
    return (inferred, "version") if inferred else (None, "")


def serving_loader(annotator: str | None, engine: str | None, loaders: list[Loader]) -> str | None:
    """The first (best) loader whose declared (annotator, engine) pairs hold the card's."""
    if not annotator or not engine:
        return None
    names = loaders_for(annotator, engine, loaders)
    return names[0] if names else None


def classify(card: ModelCard, meta: dict[str, str] | None, loaders: list[Loader], name: str) -> Row:
    annotator = card.annotator or (meta or {}).get("model_class") or None
    engine, engine_from = card_engine(card, meta)
    row = family_for(annotator)
    loader = serving_loader(annotator, engine, loaders)
    why = ""
    if loader is None:
        served = [
            e
            for lo in loaders
            if lo.annotators
            for a, e in lo.served()
            if annotator and a.lower() == annotator.lower()
        ]
        if not annotator:
            why = "the card names no annotator"
        elif row is None:
            why = f"{annotator} is not an embeddings annotator modelhub knows (pipeline or other)"
        elif engine is None and row.transformer:
            why = (
                f"engine unknown: the card names none and needs Spark NLP {card.lib_version or '?'}"
                " (5.0+ may be ONNX or OpenVINO)"
            )
        else:
            why = unserved_reason(annotator, engine, served) or "no installed loader serves it"
    return Row(
        card=name,
        annotator=annotator,
        engine=engine,
        engine_from=engine_from,
        family=row.family if row else None,
        kind=row.kind if row else None,
        loader=loader,
        why_not=why,
    )


def build_coverage(corpus: Path, loaders: list[Loader] | None = None) -> list[Row]:
    """One row per embeddings card of ``corpus/cards`` (cards that fail to parse are left
    out: ``bench/corpus_report.py`` reports those)."""
    loaders = installed_loaders() if loaders is None else loaders
    table = _metadata_rows(corpus)
    rows: list[Row] = []
    for path in sorted((corpus / "cards").glob("*.md")):
        try:
            card = load_card(path)
        except CardError:
            continue
        meta = table.get(card.artifact or "")
        annotator = card.annotator or (meta or {}).get("model_class") or None
        if is_embeddings_card(card, annotator):
            rows.append(classify(card, meta, loaders, path.name))
    return rows


@dataclass(frozen=True, slots=True)
class Totals:
    cards: int
    transformer: int
    transformer_served: int
    served: int
    per_family: dict[str, tuple[int, int]]  # family -> (cards, with a loader)

    @staticmethod
    def of(rows: list[Row]) -> Totals:
        per: dict[str, tuple[int, int]] = {}
        for r in rows:
            if r.kind == "transformer" and r.family:
                n, k = per.get(r.family, (0, 0))
                per[r.family] = (n + 1, k + (r.loader is not None))
        transformer = [r for r in rows if r.kind == "transformer"]
        return Totals(
            cards=len(rows),
            transformer=len(transformer),
            transformer_served=sum(r.loader is not None for r in transformer),
            served=sum(r.loader is not None for r in rows),
            per_family=dict(sorted(per.items())),
        )


def _pct(k: int, n: int) -> str:
    return f"{k / n:.0%}" if n else "-"


def render(rows: list[Row], loaders: list[Loader]) -> str:
    out: list[str] = []
    out.append(
        "installed loaders: "
        + (", ".join(f"{lo.name} ({'/'.join(lo.engines) or 'any'})" for lo in loaders) or "none")
    )
    head = f"{'card':<58} {'annotator':<29} {'engine':<12} {'family':<12} loader / why not"
    out.append(head)
    for r in rows:
        engine = (r.engine or "?") + ("*" if r.engine_from == "version" else "")
        out.append(
            f"{r.card[:58]:<58} {(r.annotator or '-')[:29]:<29} {engine:<12} "
            f"{(r.family or '-'):<12} {r.loader or r.why_not}"
        )
    out.append("(* engine inferred: Spark NLP < 5.0 had only TensorFlow)")
    t = Totals.of(rows)
    out.append("")
    out.append(
        f"embeddings cards: {t.cards}; with a loader: {t.served} ({_pct(t.served, t.cards)})"
    )
    out.append(
        f"transformer-family cards: {t.transformer}; with a loader: {t.transformer_served} "
        f"({_pct(t.transformer_served, t.transformer)})"
    )
    others: dict[str, int] = {}
    for r in rows:
        if r.kind != "transformer":
            key = f"{r.kind} {r.family}" if r.kind else "not in the families table"
            others[key] = others.get(key, 0) + 1
    out.append(
        "other embeddings cards: "
        + (", ".join(f"{k} {n}" for k, n in sorted(others.items())) or "none")
    )
    out.append(f"  {'family':<14} {'cards':>5} {'loader':>6}")
    for family, (n, k) in t.per_family.items():
        out.append(f"  {family:<14} {n:>5} {k:>6}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args(argv)
    if not (args.corpus / "cards").is_dir():
        print(
            f"skipped: {args.corpus / 'cards'} is absent (the corpus of real Models Hub "
            "cards lives in ../shared/corpus; pass its path)"
        )
        return 0
    loaders = installed_loaders()
    print(render(build_coverage(args.corpus, loaders), loaders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
