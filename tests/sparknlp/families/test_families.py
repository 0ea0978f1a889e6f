"""Every Spark NLP transformer family's ONNX zip (tests/fixtures/sparknlp/families), loaded by
the ``sparknlp_transformer`` loader and checked against transformers on the same reference
weights and tokenizer: (a) ``semantics="huggingface"`` token vectors within 1e-4; (b) the
default semantics reproduce Spark NLP's rule (first piece per token, the mask quirks, the
sentence pooling), restated independently in :mod:`.spark_rules`; batches equal
one-by-one runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from modelhub.errors import ArtifactFormatError, OptionError
from modelhub.loaders.sparknlp.transformer.loader import SparkNlpTransformerLoader
from modelhub.loaders.sparknlp.transformer.model import SparkNlpTransformerModel

from .conftest import MANIFEST, ZIPS, needs_tokenizers, reference
from .spark_rules import (
    MASKED,
    POOLING,
    WORD_LEVEL,
    spark_sentence_vector,
    spark_word_vectors,
)

pytest.importorskip("onnxruntime")
pytest.importorskip("transformers")

TEXTS = [
    "I hate cancer",
    "the patient was given a dose of aspirin.",
    "",
    "New York cafe, she found no evidence!",
]
_LOADED: dict[tuple[str, str], SparkNlpTransformerModel] = {}
#: The Nomic graphs give a sentence vector only (test_nomic.py).
TOKEN_ZIPS = tuple(z for z in ZIPS if not z.startswith("nomic_"))


def load(family_dirs: dict[str, Path], name: str, semantics: str) -> SparkNlpTransformerModel:
    needs_tokenizers(name)
    key = (name, semantics)
    if key not in _LOADED:
        # the zips say maxSentenceLength 24; the upstream reference cuts nothing below 60
        options = {"max_length": 60} if semantics == "huggingface" else {}
        model = SparkNlpTransformerLoader().load(
            family_dirs[name], None, semantics=semantics, **options
        )
        assert isinstance(model, SparkNlpTransformerModel)
        _LOADED[key] = model
    return _LOADED[key]


def _types(name: str, model: SparkNlpTransformerModel) -> bool:
    return "token_type_ids" in model.runner.inputs


@pytest.mark.parametrize("name", TOKEN_ZIPS)
def test_huggingface_semantics_token_vectors_equal_transformers(
    family_dirs: dict[str, Path], name: str
) -> None:
    model = load(family_dirs, name, "huggingface")
    ref, tok = reference(name)
    instruction = model.art.instruction if model.family.family == "instructor" else ""
    got = model.encode(TEXTS, output_value="token_embeddings")
    import torch

    for text, states in zip(TEXTS, got, strict=True):
        enc = tok(instruction + text, return_tensors="pt")
        kwargs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if _types(name, model):
            kwargs["token_type_ids"] = torch.zeros_like(enc["input_ids"])
        with torch.no_grad():
            want = ref(**kwargs).last_hidden_state[0].numpy()
        assert states.shape == want.shape, (text, states.shape, want.shape)
        assert np.abs(states - want).max() <= 1e-4


@pytest.mark.parametrize("name", [z for z in ZIPS if z in WORD_LEVEL])
def test_sparknlp_semantics_word_vectors_are_the_first_piece_of_each_token(
    family_dirs: dict[str, Path], name: str
) -> None:
    model = load(family_dirs, name, "sparknlp")
    ref, tok = reference(name)
    for text, emb in zip(TEXTS, model.embed(TEXTS), strict=True):
        words, want = spark_word_vectors(
            name, MANIFEST[name]["reference"], ref, tok, text, _types(name, model)
        )
        assert emb.tokens == words
        for token, (b, e) in zip(emb.tokens, emb.offsets, strict=True):
            assert text[b:e] == token
        assert emb.vectors.shape == (len(words), model.dim)
        if words:
            assert np.abs(emb.vectors - want).max() <= 1e-4
    # Spark NLP has no sentence vector for a word annotator: encode() averages the tokens
    # (SentenceEmbeddings AVERAGE); an empty text gives zeros.
    vectors = model.encode(TEXTS)
    assert np.allclose(vectors[0], model.embed([TEXTS[0]])[0].vectors.mean(0), atol=1e-6)
    assert not vectors[2].any()


def test_roberta_onnx_masks_its_start_token_as_spark_nlp_does(
    family_dirs: dict[str, Path],
) -> None:
    spark = load(family_dirs, "roberta_onnx", "sparknlp")
    upstream = load(family_dirs, "roberta_onnx", "huggingface")
    a = spark.embed(["I hate cancer"])[0].vectors
    b = upstream.embed(["I hate cancer"])[0].vectors
    assert a.shape == b.shape and np.abs(a - b).max() > 1e-3  # the quirk shows


@pytest.mark.parametrize(
    "name", [z for z in ZIPS if z.startswith("xlmroberta_sentence_") and z in MASKED]
)
def test_xlmroberta_sentence_masks_unknown_pieces_as_spark_nlp_does(
    family_dirs: dict[str, Path], name: str
) -> None:
    """XLM-R maps spm's <unk> (0) to 1 = <pad>, and its sentence paths mask ``id != 1``
    (XlmRoberta.scala @48e0004b): an unknown piece is left out of the mean."""
    model = load(family_dirs, name, "sparknlp")
    text = TEXTS[3]  # "Y" and "," are not in the fixture's SentencePiece vocabulary
    row = model._rows([text], 1, lambda n: None)[0]
    unknown = [k for k, i in enumerate(row.ids) if i == 1]
    assert unknown
    assert [k for k, m in enumerate(row.mask) if not m] == unknown
    upstream = load(family_dirs, name, "huggingface")
    assert all(upstream._rows([text], 1, lambda n: None)[0].mask)  # the upstream mask


def test_bge_onnx_zip_without_use_cls_token_is_cls_pooled(
    family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """A BGE zip saved before Spark NLP 5.5.3 has no ``useCLSToken``; 5.5.3+ applies the
    param's default, true (HasClsTokenProperties @14daf855): CLS + L2, not the mean."""
    folder = tmp_path / "bge_old"
    shutil.copytree(family_dirs["bge_mean_onnx"], folder)
    meta = folder / "metadata" / "part-00000"
    data = json.loads(meta.read_text("utf-8"))
    assert data["paramMap"].pop("useCLSToken") is False
    meta.write_text(json.dumps(data), "utf-8")
    for crc in (folder / "metadata").glob(".part-00000.crc"):
        crc.unlink()  # as the bench's unpack() does after editing the metadata
    model = SparkNlpTransformerLoader().load(folder, None)
    assert model.pooling == "cls_l2" and model.normalizes
    ref, tok = reference("bge_onnx")
    got = model.encode(TEXTS)
    for text, vector in zip(TEXTS, got, strict=True):
        want = spark_sentence_vector("bge_onnx", ref, tok, text, _types("bge_onnx", model))
        assert np.abs(vector - want).max() <= 1e-4, text
    mean = load(family_dirs, "bge_mean_onnx", "sparknlp").encode(TEXTS)
    assert np.abs(got - mean).max() > 1e-3


@pytest.mark.parametrize("name", [z for z in ZIPS if z in POOLING])
def test_sparknlp_semantics_sentence_vectors_pool_as_spark_nlp(
    family_dirs: dict[str, Path], name: str
) -> None:
    model = load(family_dirs, name, "sparknlp")
    ref, tok = reference(name)
    got = model.encode(TEXTS)
    instruction = model.art.instruction
    for text, vector in zip(TEXTS, got, strict=True):
        want = spark_sentence_vector(name, ref, tok, text, _types(name, model), instruction)
        assert np.abs(vector - want).max() <= 1e-4, text
    normed = np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert normed == POOLING[name].endswith(("_l2", "instructor")) == model.normalizes


@pytest.mark.parametrize("semantics", ["sparknlp", "huggingface"])
@pytest.mark.parametrize("name", TOKEN_ZIPS)
def test_batches_equal_one_by_one(family_dirs: dict[str, Path], name: str, semantics: str) -> None:
    model = load(family_dirs, name, semantics)
    texts = [*TEXTS, "a", "cells of the tumor were tested and the result was not new"]
    alone = np.stack([model.encode(t) for t in texts])
    assert np.abs(model.encode(texts, batch_size=7) - alone).max() <= 1e-5
    assert np.abs(model.encode(texts, batch_size=3) - alone).max() <= 1e-5
    tokens = model.encode(texts, output_value="token_embeddings", batch_size=7)
    for text, states in zip(texts, tokens, strict=True):
        single = model.encode(text, output_value="token_embeddings")
        assert np.abs(states - single).max() <= 1e-5


def test_max_sentence_length_cuts_pieces_as_spark_nlp(family_dirs: dict[str, Path]) -> None:
    model = load(family_dirs, "e5_onnx", "sparknlp")
    assert model.max_length == 24  # the zip's maxSentenceLength
    long = " ".join(["cancer"] * 40)
    states = model.encode(long, output_value="token_embeddings")
    assert states.shape[0] == 24  # [CLS] + 22 pieces + [SEP]
    cut = SparkNlpTransformerLoader().load(family_dirs["e5_onnx"], None, max_length=8)
    assert cut.encode(long, output_value="token_embeddings").shape[0] == 8


def test_options_are_checked(family_dirs: dict[str, Path]) -> None:
    with pytest.raises(OptionError, match="semantics"):
        SparkNlpTransformerLoader().load(family_dirs["e5_onnx"], None, semantics="spark")
    with pytest.raises(OptionError, match="device"):
        SparkNlpTransformerLoader().load(family_dirs["e5_onnx"], None, device="cuda")
    with pytest.raises(TypeError):
        SparkNlpTransformerLoader().load(family_dirs["e5_onnx"], None, not_an_option=1)


def test_describe_names_the_family_engine_and_semantics(family_dirs: dict[str, Path]) -> None:
    model = load(family_dirs, "uae_onnx", "sparknlp")
    info = model.describe()
    assert info["annotator"] == "UAEEmbeddings" and info["engine"] == "onnx"
    assert info["engine_file"] == "UAE_onnx"  # found by suffix, prefix in upper case
    assert info["semantics"] == "sparknlp" and info["pooling"] == "strategy"
    assert "UAEEmbeddings" in repr(model)


def test_a_graph_without_token_vectors_is_a_clear_error(family_dirs: dict[str, Path]) -> None:
    model = load(family_dirs, "e5_onnx", "sparknlp")
    rows = model._rows(["cancer"], 1, lambda n: None)
    rows[0].out = {"pooled": np.zeros(32, dtype=np.float32)}
    with pytest.raises(ArtifactFormatError, match="no token vectors"):
        model._states(rows[0])
