"""Parse every real card and compare it with the published metadata table.

    python bench/corpus_report.py [CORPUS_DIR] [--warnings]

Prints the parse rate, per-field agreement with
``metadata/full_models_metadata.csv`` (for cards whose artifact has a row there)
and every disagreement. Exit status 1 when a card fails to parse or a field
agrees on fewer than 99% of the compared cards.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelhub.cards import ModelCard, load_card  # noqa: E402
from modelhub.cards.values import parse_bool, same_version  # noqa: E402
from modelhub.errors import CardError  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
THRESHOLD = 0.99


def _norm(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _version_eq(card_value: Any, table_value: str) -> bool:
    if not card_value or not table_value:
        return _norm(card_value) == table_value
    return same_version(str(card_value), table_value)


def _bool_eq(card_value: Any, table_value: str) -> bool:
    return card_value == parse_bool(table_value)


def _int_eq(card_value: Any, table_value: str) -> bool:
    return _norm(card_value) == table_value


# card field, CSV column, comparison
FIELDS: tuple[tuple[str, str, Callable[[Any, str], bool]], ...] = (
    ("name", "name", lambda c, t: _norm(c) == t),
    ("language", "language", lambda c, t: _norm(c) == t),
    ("lib_version", "compatibility", _version_eq),
    ("spark_version", "spark_version", _version_eq),
    ("download_url", "download_url", lambda c, t: _norm(c) == t),
    ("annotator", "model_class", lambda c, t: _norm(c) == t),
    ("dimension", "dimension", _int_eq),
    ("case_sensitive", "case_sensitive", _bool_eq),
)


# Disagreements checked by reading the card: (card file, field) -> why.
# The card's value is what the card says; the metadata table differs.
EXPLAINED: dict[tuple[str, str], str] = {
    ("2020-01-30-assertion_ml_en.md", "lib_version"): (
        "the card links assertion_dl_large_en_2.5.0_2.4 (copy-paste from another card); the "
        "artifact and the card's own table say 2.5.0, the metadata's minimum 2.4.2"
    ),
    ("2020-01-30-assertion_ml_en.md", "annotator"): (
        "the card is about assertion_ml (AssertionLogRegModel in its code) but links the "
        "assertion_dl_large artifact (AssertionDLModel); warned on the record"
    ),
    ("2020-05-21-assertion_dl_large_en.md", "lib_version"): (
        "artifact name and table both say 2.5.0; the metadata lists 2.4.2 as compatibility"
    ),
    ("2020-04-15-ner_posology_en.md", "lib_version"): (
        "artifact ner_posology_en_2.4.4_2.4 says 2.4.4; the table (2.4.2) and metadata agree "
        "with each other; the artifact name is what pretrained() resolves; warned on the record"
    ),
    ("2020-05-10-ner_clinical_large_en.md", "case_sensitive"): (
        "the card's table says 'Case sensitive: false', the metadata True"
    ),
    ("2020-05-10-norne_6B_100_no.md", "case_sensitive"): (
        "the card's table says 'Case sensitive: false', the metadata True"
    ),
    ("2020-05-10-norne_6B_300_no.md", "case_sensitive"): (
        "the card's table says 'Case sensitive: false', the metadata True"
    ),
    ("2020-05-10-norne_840B_300_no.md", "case_sensitive"): (
        "the card's table says 'Case sensitive: false', the metadata True"
    ),
    ("2020-07-03-classifierdl_use_emotion_en.md", "case_sensitive"): (
        "the card has no 'Case sensitive' row (None); the metadata says True"
    ),
    ("2020-08-19-explain_clinical_doc_carp_en.md", "case_sensitive"): (
        "the card has no 'Case sensitive' row (None); the metadata says True"
    ),
    ("snm__top__2020-01-31-elmo.md", "dimension"): (
        "the card's row is |Dimension:|512|1024| (two values, first taken, warned); the "
        "metadata glued the cells into '5121024'"
    ),
}


@dataclass
class Report:
    files: list[Path]
    cards: list[ModelCard] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    compared: int = 0
    agree: dict[str, int] = field(default_factory=dict)
    disagreements: list[tuple[str, str, Any, str]] = field(default_factory=list)

    @property
    def parse_rate(self) -> float:
        return len(self.cards) / len(self.files) if self.files else 0.0

    def agreement(self, name: str, *, explained: bool = False) -> float:
        """Share of compared cards that agree on ``name``; with ``explained``,
        cards whose disagreement is in :data:`EXPLAINED` are left out."""
        total = self.compared
        if explained:
            total -= sum(
                1 for d in self.disagreements if d[1] == name and (d[0], d[1]) in EXPLAINED
            )
        return self.agree.get(name, 0) / total if total else 1.0


def read_metadata(corpus: Path) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    with open(corpus / "metadata" / "full_models_metadata.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            file = (row.get("file") or "").strip()
            if file:
                rows[file] = {k: (v or "").strip() for k, v in row.items() if k}
    return rows


def build_report(corpus: Path) -> Report:
    files = sorted((corpus / "cards").glob("*.md"))
    report = Report(files=files)
    table = read_metadata(corpus)
    for path in files:
        try:
            card = load_card(path)
        except CardError as exc:
            report.failures.append((path, str(exc)))
            continue
        report.cards.append(card)
        row = table.get(card.artifact or "")
        if row is None:
            continue
        report.compared += 1
        for card_field, column, equal in FIELDS:
            value = getattr(card, card_field)
            if equal(value, row[column]):
                report.agree[card_field] = report.agree.get(card_field, 0) + 1
            else:
                report.disagreements.append((path.name, card_field, value, row[column]))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--warnings", action="store_true", help="also list each card's warnings")
    args = parser.parse_args(argv)
    report = build_report(args.corpus)
    print(f"cards: {len(report.files)}  parsed: {len(report.cards)}  ({report.parse_rate:.1%})")
    for path, error in report.failures:
        print(f"  FAILED {path.name}: {error}")
    print(f"cards with a metadata row for their artifact: {report.compared}")
    ok = report.parse_rate == 1.0
    print(f"  {'field':<15} {'csv column':<16} {'agree':>7} {'without explained':>18}")
    for card_field, column, _ in FIELDS:
        rate = report.agreement(card_field)
        rate_explained = report.agreement(card_field, explained=True)
        ok = ok and rate_explained >= THRESHOLD
        print(f"  {card_field:<15} {column:<16} {rate:7.1%} {rate_explained:18.1%}")
    if report.disagreements:
        print("disagreements (card file, field, card value, metadata value):")
        for name, card_field, value, expected in report.disagreements:
            why = EXPLAINED.get((name, card_field))
            note = f"\n      explained: {why}" if why else "\n      UNEXPLAINED"
            print(f"  {name}: {card_field}: card {value!r} vs metadata {expected!r}{note}")
            ok = ok and why is not None
    if args.warnings:
        print("warnings:")
        for card in report.cards:
            for warning in card.warnings:
                print(f"  {Path(card.path or '').name}: {warning}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
