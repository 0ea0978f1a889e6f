"""The sparknlp_bert loader: each engine gives the reference weights' transformers output
under Spark NLP's rules (lowercasing, truncation, first word piece per token)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError, NoLoaderError
from modelhub.loaders.sparknlp.artifact import SparkNlpBert
from modelhub.loaders.sparknlp.loader import SparkNlpBertLoader
from modelhub.loaders.tokens import TokenEmbeddings

from .reference import first_piece_vectors, pooled

TEXTS = [
    "I hate cancer.",
    "The patient's tumor was unaffected, Café New York!",
    "",
    "Blood test results: no evidence of disease.",
]
LONG = "bert model text token word piece " * 4  # 24 words, more than 16 pieces


def _load(unpacked: dict[str, Path], name: str, **options):  # type: ignore[no-untyped-def]
    return SparkNlpBertLoader().load(unpacked[name], None, dtype="float32", **options)


@pytest.mark.parametrize(("name", "lowercase"), [("onnx", True), ("tf1", True), ("tf2", False)])
def test_token_vectors_equal_transformers_first_piece(
    unpacked: dict[str, Path], name: str, lowercase: bool
) -> None:
    model = _load(unpacked, name)
    out = model.embed([*TEXTS, LONG])
    assert all(isinstance(t, TokenEmbeddings) for t in out)
    assert out[2].tokens == [] and out[2].vectors.shape == (0, 32)
    assert out[0].tokens == ["I", "hate", "cancer", "."]
    assert out[0].offsets == [(0, 1), (2, 6), (7, 13), (13, 14)]
    for emb in out:
        if not emb.tokens:
            continue
        expected = first_piece_vectors(emb.tokens, lowercase=lowercase, max_length=model.max_length)
        assert emb.vectors.shape == expected.shape
        assert np.abs(emb.vectors - expected).max() <= 1e-4


def test_max_sentence_length_truncates(unpacked: dict[str, Path]) -> None:
    model = _load(unpacked, "onnx")
    assert model.max_length == 16  # maxSentenceLength from metadata/part-00000
    (emb,) = model.embed([LONG])
    assert len(emb.tokens) == 14  # 16 pieces minus [CLS] and [SEP]; one piece per word here
    wider = _load(unpacked, "onnx", max_length=64).embed([LONG])[0]
    assert len(wider.tokens) == 24
    np.testing.assert_allclose(wider.vectors[:14].shape, emb.vectors.shape)


def test_case_sensitivity_follows_the_metadata(unpacked: dict[str, Path]) -> None:
    # "I" is in the vocabulary as "I" and as "i": cased and uncased models see different ids.
    cased = _load(unpacked, "tf2").embed(["I"])[0].vectors
    uncased = _load(unpacked, "tf1").embed(["I"])[0].vectors
    assert np.abs(cased - uncased).max() > 1e-3
    lower = _load(unpacked, "tf1").embed(["i"])[0].vectors
    np.testing.assert_allclose(uncased, lower, atol=1e-6)


def test_engines_agree(unpacked: dict[str, Path]) -> None:
    a = _load(unpacked, "onnx").embed(TEXTS)
    b = _load(unpacked, "tf1").embed(TEXTS)
    for x, y in zip(a, b, strict=True):
        assert x.tokens == y.tokens
        if x.tokens:
            assert np.abs(x.vectors - y.vectors).max() <= 1e-4


def test_sentence_embeddings_are_the_pooler_output(unpacked: dict[str, Path]) -> None:
    model = _load(unpacked, "sentence")
    got = model.embed_sentences(TEXTS[:2] + TEXTS[3:])
    expected = pooled(TEXTS[:2] + TEXTS[3:], lowercase=True, max_length=16)
    assert got.shape == (3, 32)
    assert np.abs(got - expected).max() <= 1e-4


def test_sentence_pooler_truncates_with_a_warning_and_refuses_windows(
    unpacked: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    model = _load(unpacked, "sentence")
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        model.embed_sentences(TEXTS[:2])
    assert "truncated" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        got = model.embed_sentences([LONG, TEXTS[0]])
    assert "1 of 2 texts are longer than max_length=16 word pieces and were truncated" in (
        caplog.text
    )
    expected = pooled([LONG, TEXTS[0]], lowercase=True, max_length=16)
    assert np.abs(got - expected).max() <= 1e-4
    # One pooled vector per text: windows would have nothing to be averaged into.
    with pytest.raises(ValueError, match=r"overflow='window'.*pooler"):
        model.embed_sentences([LONG], overflow="window")
    windowed = _load(unpacked, "sentence", overflow="window")
    with pytest.raises(ValueError, match=r"overflow='window'.*pooler"):
        windowed.embed_sentences(TEXTS[:1])
    assert windowed.embed_sentences(TEXTS[:1], overflow="truncate").shape == (1, 32)


def test_token_model_sentence_pooling(unpacked: dict[str, Path]) -> None:
    model = _load(unpacked, "tf1")
    vecs = model.embed_sentences(TEXTS, normalize=True)
    assert vecs.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(vecs[[0, 1, 3]], axis=1), 1.0, atol=1e-5)


def test_accepts_only_spark_nlp_bert_folders(unpacked: dict[str, Path], tmp_path: Path) -> None:
    loader = SparkNlpBertLoader()
    assert loader.accepts(unpacked["onnx"], None) is None
    assert loader.accepts(unpacked["sentence"], None) is None
    assert "metadata/part-00000" in (loader.accepts(tmp_path, None) or "")
    meta = tmp_path / "ner" / "metadata"
    meta.mkdir(parents=True)
    (meta / "part-00000").write_text(json.dumps({"class": "com.johnsnowlabs.nlp.NerDLModel"}))
    assert "NerDLModel" in (loader.accepts(tmp_path / "ner", None) or "")
    assert loader.describe()["formats"] == ["sparknlp-zip"]
    assert loader.describe()["engines"] == ["onnx", "tensorflow"]


def _set_engine(root: Path, engine: str) -> None:
    meta = root / "metadata" / "part-00000"
    data = json.loads(meta.read_text())
    data["paramMap"]["engine"] = engine
    meta.write_text(json.dumps(data))


def test_openvino_is_not_supported_yet(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    _set_engine(root, "openvino")
    (root / "bert_onnx").rename(root / "bert_openvino")
    with pytest.raises(
        ArtifactFormatError, match=r"engine 'openvino' \(bert_openvino\) is not supported yet"
    ):
        SparkNlpBertLoader().load(root, None)


def test_missing_engine_file(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    (root / "bert_onnx").unlink()
    with pytest.raises(ArtifactFormatError, match=r"onnx engine file bert_onnx is missing"):
        SparkNlpBertLoader().load(root, None)


@pytest.mark.parametrize("name", ["onnx", "tf1"])
def test_vocabulary_size_must_match_the_embeddings(
    unpacked: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SparkNlpBert.vocabulary
    monkeypatch.setattr(SparkNlpBert, "vocabulary", lambda self: [*original(self), "extra"])
    with pytest.raises(ArtifactFormatError) as info:
        SparkNlpBertLoader().load(unpacked[name], None)
    message = str(info.value)
    assert "fields/vocabulary" in message and "bert_" in message
    assert "132 word pieces" in message and "131 rows" in message


def test_card_conflicts_warn_and_the_artifact_wins(unpacked: dict[str, Path], caplog) -> None:  # type: ignore[no-untyped-def]
    card = ModelCard(name="tiny_card", case_sensitive=True, dimension=768)
    model = SparkNlpBertLoader().load(unpacked["onnx"], card, dtype="float32")
    assert model.dim == 32
    assert any("768" in c for c in model.conflicts)
    assert any("case sensitive" in c for c in model.conflicts)
    assert model.describe()["engine"] == "onnx"


def test_load_path_picks_this_loader(unpacked: dict[str, Path]) -> None:
    from modelhub.loaders.discovery import select_loader

    try:
        chosen = select_loader(unpacked["tf2"], None)
    except NoLoaderError as exc:  # entry point not registered yet in this checkout
        pytest.skip(f"sparknlp_bert is not registered as an entry point: {exc}")
    assert chosen.name == "sparknlp_bert"


def _edit_metadata(root: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    meta = root / "metadata" / "part-00000"
    data = json.loads(meta.read_text())
    edit(data)
    meta.write_text(json.dumps(data))


def test_params_in_the_default_param_map_are_honoured(
    writable: Callable[[str], Path], unpacked: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    root = writable("tf2")  # cased, maxSentenceLength 24: neither is the fallback

    def move(data: dict[str, Any]) -> None:
        for key in ("maxSentenceLength", "caseSensitive"):
            data["defaultParamMap"][key] = data["paramMap"].pop(key)

    _edit_metadata(root, move)
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        model = SparkNlpBertLoader().load(root, None, dtype="float32")
    assert "assuming" not in caplog.text
    assert model.sparknlp.metadata.explicit.isdisjoint({"maxSentenceLength", "caseSensitive"})
    assert model.max_length == 24
    assert model.sparknlp.case_sensitive is True
    original = _load(unpacked, "tf2")
    for got, want in zip(
        model.embed(["I hate cancer.", LONG]), original.embed(["I hate cancer.", LONG]), strict=True
    ):
        assert got.tokens == want.tokens
        np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-6)


def test_absent_case_sensitive_is_assumed_false_with_a_warning(
    writable: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    root = writable("tf2")
    _edit_metadata(root, lambda data: data["paramMap"].pop("caseSensitive"))
    card = ModelCard(name="bert_tiny_tf2_cased", artifact="bert_tiny_tf2_cased_en_4.3.0_3.0_1.zip")
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        model = SparkNlpBertLoader().load(root, card, dtype="float32")
    assert model.sparknlp.case_sensitive is False  # the fallback stays
    [message] = [r.getMessage() for r in caplog.records if "caseSensitive" in r.getMessage()]
    assert "bert_tiny_tf2_cased_en_4.3.0_3.0_1.zip" in message
    assert "caseSensitive=false" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        SparkNlpBertLoader().load(writable("onnx"), None, dtype="float32")
    assert "caseSensitive" not in caplog.text


@pytest.mark.parametrize("name", ["onnx", "tf1"])
def test_metadata_dimension_conflict_warns_and_the_weights_win(
    writable: Callable[[str], Path], caplog: pytest.LogCaptureFixture, name: str
) -> None:
    root = writable(name)
    _edit_metadata(root, lambda data: data["paramMap"].update(dimension=768))
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        model = SparkNlpBertLoader().load(root, None, dtype="float32")
    assert model.dim == 32
    assert model.embed(["I hate cancer."])[0].vectors.shape == (4, 32)
    [message] = [r.getMessage() for r in caplog.records if "dimension" in r.getMessage()]
    assert str(root) in message and "768" in message and "hidden size 32" in message
