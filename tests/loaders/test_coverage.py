"""bench/coverage.py: which embeddings cards an installed loader runs, and why not the rest;
on cards written here and, when ../shared is there, on the real corpus."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

# Loaded by path under its own name: "coverage" is also the coverage.py package.
_SPEC = importlib.util.spec_from_file_location(
    "modelhub_bench_coverage", Path(__file__).resolve().parents[2] / "bench" / "coverage.py"
)
assert _SPEC is not None and _SPEC.loader is not None
coverage_bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = coverage_bench  # dataclasses look their module up
_SPEC.loader.exec_module(coverage_bench)

S3 = "https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models"


def _before() -> list:  # type: ignore[type-arg]
    """The loaders before the transformer-family loader: BERT only."""
    from modelhub.loaders.bert import BertLoader
    from modelhub.loaders.sparknlp.loader import SparkNlpBertLoader

    return [SparkNlpBertLoader(), BertLoader()]


def _after() -> list:  # type: ignore[type-arg]
    from modelhub.loaders.sparknlp.transformer.loader import SparkNlpTransformerLoader

    return [*_before(), SparkNlpTransformerLoader()]


def _card(folder: Path, name: str, annotator: str, version: str, engine: str | None = None) -> str:
    artifact = f"{name}_en_{version}_3.0_1700000000000.zip"
    engine_line = f"engine: {engine}\n" if engine else ""
    (folder / f"2023-01-01-{name}_en.md").write_text(
        f"""---
layout: model
title: {name}
author: modelhub tests
name: {name}
date: 2023-01-01
tags: [en, open_source]
task: Embeddings
language: en
edition: Spark NLP {version}
spark_version: 3.0
supported: true
{engine_line}annotator: {annotator}
---

## Description

A test card.

[Download]({S3}/{artifact})

## Model Information

{{:.table-model}}
|---|---|
|Model Name:|{name}|
|Language:|en|
""",
        encoding="utf-8",
    )
    return artifact


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    cards = tmp_path / "cards"
    cards.mkdir()
    _card(cards, "bert_onnx", "BertEmbeddings", "5.0.0", "onnx")
    _card(cards, "bert_old", "BertEmbeddings", "2.4.0")  # engine: TensorFlow, by version
    _card(cards, "roberta_onnx", "RoBertaEmbeddings", "5.1.0", "onnx")
    _card(cards, "e5_unknown", "E5Embeddings", "5.1.0")  # 5.x, no engine: unknown
    distil = _card(cards, "distil_tagged", "DistilBertEmbeddings", "5.1.0")
    _card(cards, "use_old", "UniversalSentenceEncoder", "2.4.0")
    _card(cards, "glove", "WordEmbeddings", "2.4.0")
    _card(cards, "pipe", "PipelineModel", "5.1.0")  # task Embeddings: counted, not run
    _card(cards, "ner", "NerDLModel", "5.1.0", "tensorflow")  # task says Embeddings too
    (tmp_path / "metadata").mkdir()
    with open(tmp_path / "metadata" / "full_models_metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["name", "file", "model_class", "tags"])
        writer.writeheader()
        writer.writerow(
            {"name": "distil_tagged", "file": distil, "model_class": "", "tags": "en,onnx"}
        )
    return tmp_path


def test_each_card_gets_its_loader_or_the_reason(corpus: Path) -> None:
    rows = {r.card.split("-")[-1]: r for r in coverage_bench.build_coverage(corpus, _before())}
    assert rows["bert_onnx_en.md"].loader == "sparknlp_bert"
    old = rows["bert_old_en.md"]
    assert (old.engine, old.engine_from, old.loader) == ("tensorflow", "version", "sparknlp_bert")
    assert rows["roberta_onnx_en.md"].loader is None
    assert "RoBertaEmbeddings (roberta, onnx) is recognised" in rows["roberta_onnx_en.md"].why_not
    assert rows["e5_unknown_en.md"].why_not.startswith("engine unknown")
    tagged = rows["distil_tagged_en.md"]
    assert (tagged.engine, tagged.engine_from) == ("onnx", "metadata")
    assert "needs TensorFlow itself" in rows["use_old_en.md"].why_not
    assert rows["glove_en.md"].kind == "static"
    assert rows["pipe_en.md"].family is None and "not an embeddings annotator" in (
        rows["pipe_en.md"].why_not
    )
    # NerDLModel's card says task Embeddings, so it is counted, and said to be unknown.
    assert rows["ner_en.md"].kind is None
    # The transformer-family loader's declared annotators x engines take the ONNX cards.
    after = {r.card.split("-")[-1]: r for r in coverage_bench.build_coverage(corpus, _after())}
    assert after["roberta_onnx_en.md"].loader == "sparknlp_transformer"
    assert after["distil_tagged_en.md"].loader == "sparknlp_transformer"
    assert after["bert_onnx_en.md"].loader == "sparknlp_bert"  # it still wins for BERT
    assert after["e5_unknown_en.md"].loader is None  # engine unknown


def test_totals_and_per_family(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    totals = coverage_bench.Totals.of(coverage_bench.build_coverage(corpus, _before()))
    assert (totals.cards, totals.transformer, totals.transformer_served) == (9, 5, 2)
    assert totals.per_family == {
        "bert": (2, 2),
        "distilbert": (1, 0),
        "e5": (1, 0),
        "roberta": (1, 0),
    }
    after = coverage_bench.Totals.of(coverage_bench.build_coverage(corpus, _after()))
    assert (after.transformer, after.transformer_served) == (5, 4)
    assert after.per_family["distilbert"] == (1, 1) and after.per_family["roberta"] == (1, 1)
    # main() counts with the installed loaders
    now = coverage_bench.Totals.of(coverage_bench.build_coverage(corpus))
    assert coverage_bench.main([str(corpus)]) == 0
    out = capsys.readouterr().out
    k = now.transformer_served
    assert f"transformer-family cards: 5; with a loader: {k} ({k / 5:.0%})" in out
    assert f"embeddings cards: 9; with a loader: {now.served} ({now.served / 9:.0%})" in out
    assert "unsupported use 1" in out and "static word-vectors 1" in out


def test_skips_with_a_clear_message_when_the_corpus_is_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert coverage_bench.main([str(tmp_path / "no-shared" / "corpus")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("skipped: ") and "no-shared" in out and "../shared/corpus" in out


def test_real_corpus(corpus_dir: Path) -> None:
    rows = coverage_bench.build_coverage(corpus_dir)
    transformer = [r for r in rows if r.kind == "transformer"]
    assert len(transformer) >= 49
    for r in transformer:
        assert r.loader or ("recognised" in r.why_not or "engine unknown" in r.why_not), r
    # Before the transformer-family loader only the BERT families ran.
    before = coverage_bench.build_coverage(corpus_dir, _before())
    assert {r.family for r in before if r.kind == "transformer" and r.loader} <= {"bert"}
    # Every embeddings annotator the corpus names has a row; only pipelines have none.
    assert {r.annotator for r in rows if r.kind is None} <= {"PipelineModel", None}
    assert {"unsupported", "static"} <= {r.kind for r in rows}
