"""The ``sparknlp_transformer`` loader through the plugin machinery: registered in the
entry-point group with its annotators × engines, chosen by ``modelhub.pretrained`` for a
local folder and for a card resolved and fetched from the local S3, declining what the
``sparknlp_bert`` loader runs, and typed errors for engines without a runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import modelhub
from modelhub.errors import ArtifactFormatError, NoLoaderError
from modelhub.loaders import installed_loaders, select_loader
from modelhub.loaders.sparknlp.families import family_for, transformer_families
from modelhub.loaders.sparknlp.runners import available_engines, open_runner
from modelhub.loaders.sparknlp.transformer.loader import SparkNlpTransformerLoader
from modelhub.loaders.sparknlp.transformer.model import SparkNlpTransformerModel
from tests.cardgen import s3_url, write_card
from tests.sparknlp.conftest import unpack

from .conftest import FAMILIES_DIR, external_data_graph

pytestmark = pytest.mark.usefixtures("transformer_loader_registered")
ARTIFACT = "e5_tiny_sparknlp_en_5.5.1_3.0_1733000000000.zip"
CARD = f"""---
layout: model
title: Tiny E5 in a Spark NLP zip (test card)
author: modelhub tests
name: e5_tiny_sparknlp
date: 2024-12-01
tags: [en, open_source, onnx, embeddings, e5]
task: Embeddings
language: en
edition: Spark NLP 5.5.1
spark_version: 3.0
supported: true
engine: onnx
annotator: E5Embeddings
---

## Description

A tiny random E5 saved in Spark NLP's layout.

[Download]({s3_url(ARTIFACT)})

## Model Information

{{:.table-model}}
|---|---|
|Model Name:|e5_tiny_sparknlp|
|Language:|en|
|Case sensitive:|false|
|Dimension:|32|
"""


def test_registered_with_every_family_it_runs() -> None:
    [loader] = [lo for lo in installed_loaders() if lo.name == "sparknlp_transformer"]
    assert "onnx" in loader.engines and set(loader.engines) <= set(available_engines())
    # every transformer family with an engine this install runs, BERT only where
    # sparknlp_bert does not run it
    expected = {
        f.annotator
        for f in transformer_families()
        if any(e in loader.engines for e in f.engines)
        and not (f.annotator.startswith("Bert") and set(f.engines) & set(loader.engines) <= {
            "onnx", "tensorflow"})
    }  # fmt: skip
    assert expected <= set(loader.annotators)
    for name in ("E5Embeddings", "XlmRoBertaSentenceEmbeddings", "InstructorEmbeddings"):
        assert loader.serves(name)
    assert loader.describe()["name"] == "sparknlp_transformer"


def test_pretrained_on_a_local_folder_picks_it(tmp_path: Path) -> None:
    folder = unpack_family("uae_onnx", tmp_path)
    model = modelhub.pretrained(folder)
    assert isinstance(model, SparkNlpTransformerModel) and model.semantics == "sparknlp"
    upstream = modelhub.pretrained(folder, semantics="huggingface")
    assert upstream.semantics == "huggingface"
    assert model.encode("I hate cancer").shape == (32,)


def test_bert_zips_stay_with_sparknlp_bert_but_openvino(tmp_path: Path) -> None:
    folder = unpack("onnx", tmp_path / "bert")
    assert select_loader(folder).name == "sparknlp_bert"
    why = SparkNlpTransformerLoader().accepts(folder, None)
    assert why is not None and "sparknlp_bert" in why
    if "openvino" in available_engines():
        ov = unpack_family("bert_openvino", tmp_path)
        assert select_loader(ov).name == "sparknlp_transformer"
        model = modelhub.pretrained(ov)
        assert model.engine == "openvino" and model.art.annotator == "BertEmbeddings"


@pytest.mark.slow
def test_pretrained_from_a_card_and_the_local_s3(
    s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put(f"public/models/{ARTIFACT}", (FAMILIES_DIR / "e5_onnx.zip").read_bytes())
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", s3.endpoint)
    cards = tmp_path / "cards"
    write_card(cards, "2024-12-01-e5_tiny_sparknlp_en.md", CARD)
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    model = modelhub.pretrained("e5_tiny_sparknlp", "en")
    assert isinstance(model, SparkNlpTransformerModel)
    assert model.record.name == "e5_tiny_sparknlp" and model.engine == "onnx"
    vectors = model.encode(["I hate cancer", "heart attack"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # E5: mean + L2


def unpack_family(name: str, target: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(FAMILIES_DIR / f"{name}.zip") as zf:
        zf.extractall(target / name)
    return target / name


def _set_engine(folder: Path, engine: str) -> None:
    meta = folder / "metadata" / "part-00000"
    meta.write_text(meta.read_text().replace('"engine":"onnx"', f'"engine":"{engine}"'))


def test_declines_with_reasons(tmp_path: Path) -> None:
    loader = SparkNlpTransformerLoader()
    assert loader.accepts(tmp_path / "nothing", None) is not None
    folder = unpack_family("mxbai_onnx", tmp_path)
    assert loader.accepts(folder, None) is None
    _set_engine(folder, "openvino")  # Spark NLP has no OpenVINO Mxbai
    assert "no openvino engine for MxbaiEmbeddings" in (loader.accepts(folder, None) or "")


def test_an_engine_without_its_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = unpack_family("bge_onnx", tmp_path)
    _set_engine(folder, "tensorflow")
    if "tensorflow" in available_engines():
        with pytest.raises(ArtifactFormatError, match=r"no tensorflow engine file"):
            SparkNlpTransformerLoader().load(folder, None)
    else:
        with pytest.raises(NoLoaderError, match="no tensorflow runner"):
            modelhub.pretrained(folder)


def test_open_runner_names_what_is_missing(tmp_path: Path) -> None:
    row = family_for("E5Embeddings")
    assert row is not None
    with pytest.raises(ArtifactFormatError, match="unknown engine 'llama_cpp'"):
        open_runner("llama_cpp", tmp_path / "x_llama", row)
    for engine in ("openvino", "tensorflow"):
        if engine not in available_engines():
            with pytest.raises(ArtifactFormatError, match=f"no {engine} runner"):
                open_runner(engine, tmp_path / f"e5_{engine}", row)


def test_onnx_engine_zip_damage_is_typed(tmp_path: Path) -> None:
    folder = unpack_family("e5_onnx", tmp_path)
    (folder / "e5_onnx").write_bytes(b"not a zip")
    with pytest.raises(modelhub.ModelhubError, match="e5_onnx"):
        SparkNlpTransformerLoader().load(folder, None)
    shutil.rmtree(folder)


def test_modelhub_loaders_lists_annotators_by_engine(capsys: pytest.CaptureFixture[str]) -> None:
    from modelhub.cli.app import main

    assert main(["loaders"]) == 0
    lines = capsys.readouterr().out.splitlines()
    matrix = lines[lines.index("") + 1 :]
    columns = [c.lower() for c in matrix[0].split()]
    rows = {ln.split()[0]: dict(zip(columns[1:], ln.split()[1:], strict=True)) for ln in matrix[1:]}
    assert rows["E5Embeddings"]["onnx"] == "sparknlp_transformer"
    assert rows["BertEmbeddings"]["onnx"] == "sparknlp_bert"  # sparknlp_bert runs those
    assert rows["BertEmbeddings"]["openvino"] == "sparknlp_transformer"


@pytest.mark.parametrize("where", ["beside", "beside_spark_name", "inside"])
def test_onnx_external_data_beside_or_inside_the_engine_zip(tmp_path: Path, where: str) -> None:
    """A graph whose weights live in a side file (big models' ``.onnx_data``), next to the
    ``*_onnx`` zip in the model folder or inside it, gives the same vectors. Spark NLP
    copies the side file unzipped beside the engine zip as ``<suffix>_<model><postfix>``
    (``OnnxSerializeModel`` readOnnxModel, open-points §8), not under the graph's
    ``location``: the one side file serves the one location whatever its name."""
    import zipfile

    folder = unpack_family("e5_onnx", tmp_path)
    want = SparkNlpTransformerLoader().load(folder, None).encode(["I hate cancer"])
    engine = folder / "e5_onnx"
    work = external_data_graph(engine, tmp_path / "external", "model.onnx_data").parent
    with zipfile.ZipFile(engine, "w") as zf:
        zf.write(work / "model.onnx", "model.onnx")
        if where == "inside":
            zf.write(work / "model.onnx_data", "model.onnx_data")
    if where == "beside":
        shutil.copyfile(work / "model.onnx_data", folder / "e5_onnx_data")
    if where == "beside_spark_name":
        shutil.copyfile(work / "model.onnx_data", folder / "_e5_onnx_model.onnx_data")
    got = SparkNlpTransformerLoader().load(folder, None).encode(["I hate cancer"])
    assert np.abs(got - want).max() <= 1e-6
    if where == "beside":
        (folder / "e5_onnx_data").write_bytes(b"")  # a damaged side file: a typed error
        with pytest.raises(modelhub.ModelhubError, match="e5_onnx"):
            SparkNlpTransformerLoader().load(folder, None)
