"""resolve() against the rule applied by hand on the real metadata.json.

The reference below is written independently of modelhub.registry.versions:
a candidate version fits a target when it is not longer and, compared as a
tuple with the target cut to its length, not greater.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from modelhub.config import Settings
from modelhub.errors import ModelNotFound
from modelhub.registry.catalog.catalog import Catalog, load_catalog
from modelhub.registry.catalog.metadata import iso_to_epoch_ms

from .conftest import meta_line, write_copy

FOLDER = "clinical/models"

# synthetic lines exercising each tie-break, on top of the real file
EXTRA = [
    # higher Spark version wins over a newer time and a higher library version
    meta_line("tie_spark", lib=(2, 6, 0), spark=(2, 4), time="2021-01-01T00:00:00.000Z"),
    meta_line("tie_spark", lib=(2, 5, 0), spark=(3, 0), time="2020-01-01T00:00:00.000Z"),
    # same Spark: higher library version wins over a newer time
    meta_line("tie_lib", lib=(2, 4, 5), spark=(2, 4), time="2021-06-01T00:00:00.000Z"),
    meta_line("tie_lib", lib=(2, 6, 1), spark=(2, 4), time="2020-06-01T00:00:00.000Z"),
    # same versions: the newest time wins
    meta_line("tie_time", lib=(2, 4, 0), spark=(2, 4), time="2020-06-01T00:00:00.000Z"),
    meta_line("tie_time", lib=(2, 4, 0), spark=(2, 4), time="2020-07-01T00:00:00.000Z"),
    # not ready to use: never picked, even though newest
    meta_line("tie_ready", lib=(2, 4, 0), spark=(2, 4), time="2020-01-01T00:00:00.000Z"),
    meta_line("tie_ready", lib=(2, 7, 0), spark=(2, 4), readyToUse=False),
    # a line without language matches every requested language
    meta_line("langless", lang="", lib=(2, 4, 0), spark=(2, 4)),
    meta_line("langless", lang="de", lib=(2, 3, 0), spark=(2, 4)),
]


def _reference_rows(text: str) -> list[dict[str, Any]]:
    rows = []
    for raw in text.splitlines():
        obj = json.loads(raw)
        rows.append(
            {
                "name": obj["name"],
                "lang": obj["language"] or None,
                "lib": tuple(obj["libVersion"]["parts"]),
                "spark": tuple(obj["sparkVersion"]["parts"]),
                "time": iso_to_epoch_ms(obj["time"]),
                "ready": obj["readyToUse"],
            }
        )
    return rows


def _fits(candidate: tuple[int, ...], target: tuple[int, ...] | None) -> bool:
    if not target:
        return True
    return len(candidate) <= len(target) and candidate <= target[: len(candidate)]


def _pick(rows: list[dict[str, Any]], name: str, lang: str, lib_t: Any, spark_t: Any) -> Any:
    cands = [
        r
        for r in rows
        if r["ready"]
        and r["name"] == name
        and (r["lang"] is None or r["lang"] == lang)
        and _fits(r["lib"], lib_t)
        and _fits(r["spark"], spark_t)
    ]
    if not cands:
        return None
    best = max(cands, key=lambda r: (r["spark"], r["lib"], r["time"]))
    lib = ".".join(map(str, best["lib"]))
    spark = ".".join(map(str, best["spark"]))
    return f"{FOLDER}/{best['name']}_{best['lang'] or ''}_{lib}_{spark}_{best['time']}.zip"


@pytest.fixture
def table(corpus_dir: Path, settings: Settings) -> tuple[Catalog, list[dict[str, Any]]]:
    real = (corpus_dir / "metadata" / "jsl_metadata.json").read_text()
    text = real.rstrip("\n") + "\n" + "\n".join(EXTRA) + "\n"
    s = settings.with_changes(folders=(FOLDER,))
    write_copy(s, FOLDER, text)
    return load_catalog(s), _reference_rows(text)


LIB_TARGETS = [None, (1, 8, 0), (2, 4, 0), (2, 4, 5), (2, 5), (2, 5, 5), (2, 6, 0), (2, 6, 3), (3,)]
SPARK_TARGETS = [None, (2,), (2, 4), (2, 4, 4), (3, 0)]


def test_picks_match_the_rule_applied_by_hand(table: tuple[Catalog, list[dict]]) -> None:
    catalog, rows = table
    queries = sorted({(r["name"], r["lang"] or "en") for r in rows} | {("langless", "fr")})
    assert len(queries) > 150
    checked = found = 0
    for (name, lang), lib_t, spark_t in itertools.product(queries, LIB_TARGETS, SPARK_TARGETS):
        expected = _pick(rows, name, lang, lib_t, spark_t)
        kwargs = {
            "lib_version": ".".join(map(str, lib_t)) if lib_t else None,
            "spark_version": ".".join(map(str, spark_t)) if spark_t else None,
            "folder": FOLDER,
        }
        if expected is None:
            with pytest.raises(ModelNotFound):
                catalog.resolve(name, lang, **kwargs)
        else:
            assert catalog.resolve(name, lang, **kwargs).key == expected, (name, lang, lib_t)
            found += 1
        checked += 1
    assert checked > 6000 and found > 3000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tie_spark", "tie_spark_en_2.5.0_3.0_1577836800000.zip"),
        ("tie_lib", "tie_lib_en_2.6.1_2.4_1590969600000.zip"),
        ("tie_time", "tie_time_en_2.4.0_2.4_1593561600000.zip"),
        ("tie_ready", "tie_ready_en_2.4.0_2.4_1577836800000.zip"),
    ],
)
def test_tie_breaks(table: tuple[Catalog, list[dict]], name: str, expected: str) -> None:
    catalog, _ = table
    assert catalog.resolve(name, "en", folder=FOLDER).record.artifact == expected


def test_explain_says_why_each_candidate_lost(table: tuple[Catalog, list[dict]]) -> None:
    catalog, _ = table
    result = catalog.explain("tie_spark", "en", folder=FOLDER, spark_version="2.4")
    by_spark = {c.spark_version: c for c in result.candidates}
    assert by_spark["3.0"].status == "rejected"
    assert "Spark version 3.0 is newer than the target 2.4" in (by_spark["3.0"].reason or "")
    assert by_spark["2.4"].status == "picked"
    lower = catalog.explain("tie_time", "en", folder=FOLDER).candidates
    assert [c.status for c in lower] == ["picked", "ranked lower"]
    assert "older" in (lower[1].reason or "")
    ready = catalog.explain("tie_ready", "en", folder=FOLDER).candidates
    assert any(c.reason == "not readyToUse in metadata.json" for c in ready)


def test_pinning_by_version_artifact_and_timestamp(table: tuple[Catalog, list[dict]]) -> None:
    catalog, _ = table
    old = "tie_time_en_2.4.0_2.4_1590969600000.zip"
    assert catalog.resolve("tie_lib", version="2.4.5", folder=FOLDER).record.lib_version == "2.4.5"
    assert catalog.resolve("tie_time", version=old, folder=FOLDER).record.artifact == old
    assert catalog.resolve("tie_time", version=old[:-4], folder=FOLDER).record.artifact == old
    assert (
        catalog.resolve("tie_time", version="1590969600000", folder=FOLDER).record.artifact == old
    )
    with pytest.raises(ModelNotFound):
        catalog.resolve("tie_time", version="9.9.9", folder=FOLDER)


def test_unknown_language_lists_the_languages(table: tuple[Catalog, list[dict]]) -> None:
    catalog, rows = table
    name = next(r["name"] for r in rows if r["lang"] == "es")
    with pytest.raises(ModelNotFound) as err:
        catalog.resolve(name, "fr", folder=FOLDER)
    assert "es" in err.value.languages
    assert "es" in str(err.value)
