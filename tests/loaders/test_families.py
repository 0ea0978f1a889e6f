"""The Spark NLP annotator table (modelhub.loaders.sparknlp.families) and the NoLoaderError
it words for annotators no installed loader runs: real model folders (metadata JSON as
Spark writes it, engine files by name), the real installed loaders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import modelhub.loaders.sparknlp.families as families_module
from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError, NoLoaderError
from modelhub.loaders import installed_loaders, load_path
from modelhub.loaders.discovery import recognised_note
from modelhub.loaders.sparknlp.families import (
    FAMILIES,
    engine_files,
    engine_for_version,
    family_for,
    spp_file,
    transformer_families,
    unserved_reason,
)

# Issue 18's families, word and sentence level, and the recognised-unsupported ones.
ISSUE_TRANSFORMERS = {
    "DistilBertEmbeddings": ("distilbert", "word", "wordpiece"),
    "RoBertaEmbeddings": ("roberta", "word", "bpe"),
    "XlmRoBertaEmbeddings": ("xlm-roberta", "word", "sentencepiece"),
    "CamemBertEmbeddings": ("camembert", "word", "sentencepiece"),
    "DeBertaEmbeddings": ("deberta", "word", "sentencepiece"),
    "AlbertEmbeddings": ("albert", "word", "sentencepiece"),
    "XlnetEmbeddings": ("xlnet", "word", "sentencepiece"),
    "LongformerEmbeddings": ("longformer", "word", "bpe"),
    "BertSentenceEmbeddings": ("bert", "sentence", "wordpiece"),
    "RoBertaSentenceEmbeddings": ("roberta", "sentence", "bpe"),
    "XlmRoBertaSentenceEmbeddings": ("xlm-roberta", "sentence", "sentencepiece"),
    "E5Embeddings": ("e5", "sentence", "wordpiece"),
    "BGEEmbeddings": ("bge", "sentence", "wordpiece"),
    "MPNetEmbeddings": ("mpnet", "sentence", "wordpiece"),
    "MxbaiEmbeddings": ("mxbai", "sentence", "wordpiece"),
    "UAEEmbeddings": ("uae", "sentence", "wordpiece"),
    "NomicEmbeddings": ("nomic", "sentence", "wordpiece"),
    "InstructorEmbeddings": ("instructor", "sentence", "sentencepiece"),
}
UNSUPPORTED = ("AutoGGUFEmbeddings", "UniversalSentenceEncoder", "ElmoEmbeddings", "E5VEmbeddings")
STATIC = ("WordEmbeddingsModel", "Word2VecModel")


@pytest.mark.parametrize("annotator", sorted(ISSUE_TRANSFORMERS))
def test_every_issue_family_has_a_row(annotator: str) -> None:
    row = family_for(annotator)
    assert row is not None and row.transformer
    assert (row.family, row.level, row.tokenizer) == ISSUE_TRANSFORMERS[annotator]
    assert row.engines and set(row.engines) <= {"tensorflow", "onnx", "openvino"}
    # Word level: a token-vector rule; sentence level: a pooling rule for each engine.
    if row.level == "word":
        assert row.token_vector and not row.pooling
    else:
        assert all(row.pooling_for(e) for e in row.engines)
    names = {p.name for p in row.params}
    assert {"caseSensitive", "maxSentenceLength", "dimension"} <= names
    # SentencePiece rows read *_spp; BPE rows the merges map too.
    assert ("*_spp" in row.files) == (row.tokenizer == "sentencepiece")
    assert ("fields/merges" in row.files) == (row.tokenizer == "bpe")


def test_rows_cite_a_source_with_a_commit_or_index_id() -> None:
    cited = re.compile(r"@[0-9a-f]{8}|idx \d+|§\d")
    for row in FAMILIES:
        assert row.sources, row.annotator
        assert any(cited.search(s) for s in row.sources), (row.annotator, row.sources)
    assert len({r.annotator for r in FAMILIES}) == len(FAMILIES)


def test_the_settled_and_open_points_are_all_stated() -> None:
    doc = families_module.__doc__ or ""
    for mark in ("S1.", "O1.", "S2.", "O2.", "S3.", "S4.", "S5.", "O6.", "O7.", "S8.", "S9."):
        assert mark in doc
    # Each settled point names the file and commit it was read at.
    for mark, source in [
        ("S1.", "@9a165279"),
        ("S2.", "@2d1bbcc1"),
        ("S3.", "@44877365"),
        ("S4.", "idx 3540551258"),
        ("S5.", "@b7c963a8"),
        ("S8.", "@ea436cf8"),
        ("S9.", "idx 7479104452"),
    ]:
        start = doc.index(mark)
        assert source in doc[start : start + 1200], mark


def test_prefixes_vary_in_case_as_spark_nlp_writes_them() -> None:
    assert family_for("MxbaiEmbeddings").prefix == "Mxbai"  # type: ignore[union-attr]
    assert family_for("UAEEmbeddings").prefix == "UAE"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "annotator"),
    [
        ("RoBertaEmbeddings", "RoBertaEmbeddings"),
        ("com.johnsnowlabs.nlp.embeddings.RoBertaEmbeddings", "RoBertaEmbeddings"),
        ("robertaembeddings", "RoBertaEmbeddings"),
        ("WordEmbeddings", "WordEmbeddingsModel"),  # what old cards write
        (" BGEEmbeddings ", "BGEEmbeddings"),
    ],
)
def test_family_for_accepts_the_names_cards_and_metadata_use(name: str, annotator: str) -> None:
    row = family_for(name)
    assert row is not None and row.annotator == annotator


@pytest.mark.parametrize("name", [None, "", "NerDLModel", "com.x.Unknown"])
def test_unknown_annotators_have_no_row(name: str | None) -> None:
    assert family_for(name) is None
    assert unserved_reason(name, "onnx") is None


def test_engine_files_match_by_suffix_in_any_case(tmp_path: Path) -> None:
    for name in ("Mxbai_onnx", "uae_OpenVINO", "xlmroberta_spp", "notes_onnx.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "fields").mkdir()
    (tmp_path / "fields" / "x_tensorflow").mkdir()  # a folder, not an engine file
    found = engine_files(tmp_path)
    assert {k: v.name for k, v in found.items()} == {
        "onnx": "Mxbai_onnx",
        "openvino": "uae_OpenVINO",
    }
    assert spp_file(tmp_path) == tmp_path / "xlmroberta_spp"
    assert spp_file(tmp_path / "fields") is None


def test_two_engine_files_for_one_engine_are_an_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "roberta_onnx").write_bytes(b"x")
    (tmp_path / "RoBerta_ONNX").write_bytes(b"x")
    with pytest.raises(
        ArtifactFormatError, match=r"2 onnx engine files .*RoBerta_ONNX.*roberta_onnx"
    ):
        engine_files(tmp_path)


@pytest.mark.parametrize(
    ("version", "engine"),
    [("2.4.0", "tensorflow"), ("4.4.2", "tensorflow"), ("5.0.0", None), ("", None), ("x", None)],
)
def test_engine_for_version(version: str, engine: str | None) -> None:
    assert engine_for_version(version) == engine


def test_unserved_reason_words() -> None:
    assert (
        unserved_reason("RoBertaEmbeddings", "onnx")
        == "RoBertaEmbeddings (roberta, onnx) is recognised; no installed loader runs it yet"
    )
    assert "only with pytorch" in unserved_reason("RoBertaEmbeddings", "onnx", ["pytorch"])  # type: ignore[operator]
    assert unserved_reason("BertEmbeddings", "onnx", ["onnx", "tensorflow"]) is None
    assert "has no openvino engine" in unserved_reason("XlnetEmbeddings", "openvino")  # type: ignore[operator]
    for name in UNSUPPORTED:
        text = unserved_reason(name, "tensorflow")
        assert text is not None and "recognised but not supported: it needs" in text
    assert "TensorFlow" in unserved_reason("UniversalSentenceEncoder")  # type: ignore[operator]
    assert "llama.cpp" in unserved_reason("AutoGGUFEmbeddings", "llamacpp")  # type: ignore[operator]
    assert "OpenVINO" in unserved_reason("E5VEmbeddings")  # type: ignore[operator]
    for name in STATIC:
        text = unserved_reason(name)
        assert text is not None and "static word vectors" in text and "separate work" in text
    assert {f.annotator for f in transformer_families()} >= set(ISSUE_TRANSFORMERS)


# --- NoLoaderError for real model folders ---------------------------------------------


def _spark_folder(root: Path, class_name: str, files: list[str], **params: object) -> Path:
    """A model folder as Spark NLP saves it: metadata/part-00000 (one JSON line, as
    DefaultParamsWriter writes it) and the named files."""
    (root / "metadata").mkdir(parents=True)
    meta = {
        "class": class_name,
        "timestamp": 1700000000000,
        "sparkVersion": "3.4.1",
        "uid": "X_1",
        "paramMap": params,
        "defaultParamMap": {"caseSensitive": False},
    }
    (root / "metadata" / "part-00000").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    (root / "metadata" / "_SUCCESS").write_bytes(b"")
    for name in files:
        (root / name).write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return root


def _transformer_loader_engines() -> tuple[str, ...] | None:
    """The engines of the installed ``sparknlp_transformer`` loader (None: not installed)."""
    for lo in installed_loaders():
        if lo.name == "sparknlp_transformer":
            return lo.engines
    return None


def test_recognised_transformer_zip_says_no_loader_runs_it_yet(tmp_path: Path) -> None:
    folder = _spark_folder(
        tmp_path / "camembert_base",
        "com.johnsnowlabs.nlp.embeddings.CamemBertEmbeddings",
        ["camembert_onnx", "camembert_spp"],
        engine="onnx",
    )
    without = [lo for lo in installed_loaders() if lo.name != "sparknlp_transformer"]
    assert recognised_note(folder, None, loaders=without) == (
        "CamemBertEmbeddings (camembert, onnx) is recognised; installed loaders run it only "
        "with pytorch, safetensors, transformers"
    )
    if "onnx" in (_transformer_loader_engines() or ()):
        # sparknlp_transformer takes it, and says what is wrong with the dummy engine file
        with pytest.raises(ArtifactFormatError, match="camembert_onnx"):
            load_path(folder)
        return
    with pytest.raises(NoLoaderError) as info:
        load_path(folder)
    msg = str(info.value)
    assert msg.startswith(
        "CamemBertEmbeddings (camembert, onnx) is recognised; installed loaders run it only "
        "with pytorch, safetensors, transformers."
        "\nno installed loader accepts"
    )
    # The per-loader reasons are still there.
    assert "sparknlp_bert" in msg and "is not one of" in msg


def test_pre_5_zip_without_engine_param_is_tensorflow(tmp_path: Path) -> None:
    folder = _spark_folder(
        tmp_path / "roberta_base",
        "com.johnsnowlabs.nlp.embeddings.RoBertaEmbeddings",
        ["roberta_tensorflow"],
    )
    if "tensorflow" in (_transformer_loader_engines() or ()):
        with pytest.raises(ArtifactFormatError, match="roberta_tensorflow"):
            load_path(folder)
        return
    with pytest.raises(NoLoaderError, match=r"RoBertaEmbeddings \(roberta, tensorflow\)"):
        load_path(folder)


def test_unsupported_annotator_says_what_it_would_need(tmp_path: Path) -> None:
    folder = _spark_folder(
        tmp_path / "tfhub_use",
        "com.johnsnowlabs.nlp.embeddings.UniversalSentenceEncoder",
        ["use_tensorflow"],
    )
    with pytest.raises(
        NoLoaderError,
        match=r"^UniversalSentenceEncoder is recognised but not supported: it needs "
        r"TensorFlow itself",
    ):
        load_path(folder)


def test_static_vectors_are_refused_as_separate_work(tmp_path: Path) -> None:
    folder = _spark_folder(
        tmp_path / "glove_100d", "com.johnsnowlabs.nlp.embeddings.WordEmbeddingsModel", []
    )
    (folder / "storage" / "EMBEDDINGS_glove_100d").mkdir(parents=True)
    with pytest.raises(NoLoaderError, match=r"^WordEmbeddingsModel \(static word vectors\)"):
        load_path(folder)


def test_the_record_names_the_annotator_when_the_folder_does_not(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    card = ModelCard(name="nomic_gguf", annotator="AutoGGUFEmbeddings", engine="llamacpp")
    with pytest.raises(NoLoaderError, match=r"^AutoGGUFEmbeddings is recognised .*llama\.cpp"):
        load_path(tmp_path, card)
    # An explicit annotator wins over the record's.
    note = recognised_note(tmp_path, card, "ElmoEmbeddings")
    assert note is not None and note.startswith("ElmoEmbeddings is recognised")


def test_an_annotator_a_loader_serves_gets_no_note(tmp_path: Path) -> None:
    folder = _spark_folder(
        tmp_path / "bert_damaged",
        "com.johnsnowlabs.nlp.embeddings.BertEmbeddings",
        ["bert_onnx"],
        engine="onnx",
    )
    assert recognised_note(folder, None) is None


def test_unknown_annotator_keeps_the_plain_message(tmp_path: Path) -> None:
    folder = _spark_folder(
        tmp_path / "ner", "com.johnsnowlabs.nlp.annotators.ner.dl.NerDLModel", []
    )
    with pytest.raises(NoLoaderError) as info:
        load_path(folder)
    assert str(info.value).startswith("no installed loader accepts")
    assert recognised_note(tmp_path / "missing", None) is None
