"""The BERT loader on small random BERTs: word-level tokens, vectors equal to
transformers run directly, pooling, bad input, card/artifact conflicts."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError
from modelhub.loaders import TokenEmbeddings, load_path
from tests.loaders.reference import cosines, reference_sentences, reference_tokens

TEXTS = [
    "I hate cancer",
    "Aspirin lowers the risk of myocardial infarction.",
    "unbelievable!",
    "The patient's heart (attack) is un-believable, isn't it?",
]


@pytest.fixture(scope="module")
def model(tiny_bert: Path):
    return load_path(tiny_bert, dtype="float32")


def test_tokens_are_words_with_offsets_into_the_text(model) -> None:
    [r] = model.embed(["I hate cancer"])
    assert isinstance(r, TokenEmbeddings)
    assert r.tokens == ["I", "hate", "cancer"]
    assert r.offsets == [(0, 1), (2, 6), (7, 13)]
    assert r.vectors.shape == (3, 32) and r.vectors.dtype == np.float32
    for text, res in zip(TEXTS, model.embed(TEXTS), strict=True):
        assert [text[b:e] for b, e in res.offsets] == res.tokens


def test_word_pieces_make_one_token_with_the_first_piece_vector(model, tiny_bert: Path) -> None:
    [r] = model.embed(["unbelievable!"])
    assert r.tokens == ["unbelievable", "!"]
    words, expected = reference_tokens(tiny_bert, "unbelievable!")
    assert words == r.tokens
    assert np.abs(r.vectors - expected).max() <= 1e-5


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_fp32_vectors_equal_transformers_directly(model, tiny_bert: Path, pooling: str) -> None:
    results = model.embed(TEXTS, pooling=pooling)
    for text, r in zip(TEXTS, results, strict=True):
        words, expected = reference_tokens(tiny_bert, text, pooling=pooling)
        assert r.tokens == words
        assert np.abs(r.vectors - expected).max() <= 1e-5


def test_mean_pooling_differs_from_first_piece_only_for_split_words(model) -> None:
    [first] = model.embed(["unbelievable cancer"])
    [mean] = model.embed(["unbelievable cancer"], pooling="mean")
    assert not np.allclose(first.vectors[0], mean.vectors[0])  # un ##believ ##able
    assert np.allclose(first.vectors[1], mean.vectors[1])  # one piece


def test_batching_and_padding_do_not_change_results(model) -> None:
    together = model.embed(TEXTS * 3, batch_size=4)
    for text, r in zip(TEXTS * 3, together, strict=True):
        [alone] = model.embed([text])
        assert np.abs(r.vectors - alone.vectors).max() <= 1e-5


def test_sentence_vectors_mean_and_cls(model, tiny_bert: Path) -> None:
    for pooling in ("mean", "cls"):
        got = model.embed_sentences(TEXTS, pooling=pooling)
        assert got.shape == (len(TEXTS), 32)
        expected = reference_sentences(tiny_bert, TEXTS, pooling=pooling)
        assert np.abs(got - expected).max() <= 1e-5
    normed = model.embed_sentences(TEXTS, normalize=True)
    assert np.allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)


def test_normalize_option_gives_unit_token_vectors(tiny_bert: Path) -> None:
    m = load_path(tiny_bert, dtype="float32", normalize=True)
    [r] = m.embed(["I hate cancer"])
    assert np.allclose(np.linalg.norm(r.vectors, axis=1), 1.0, atol=1e-5)


def test_empty_inputs(model) -> None:
    assert model.embed([]) == []
    assert model.embed_sentences([]).shape == (0, 32)
    [r] = model.embed([""])
    assert r.tokens == [] and r.offsets == [] and r.vectors.shape == (0, 32)
    results = model.embed(["", "I hate cancer", "   "])
    assert [len(x) for x in results] == [0, 3, 0]
    sentences = model.embed_sentences(["", "cancer"])
    assert sentences.shape == (2, 32) and np.isfinite(sentences).all()


@pytest.mark.parametrize("bad", [[1], ["ok", None], [b"bytes"], "a bare string", 42])
def test_non_str_input_is_a_type_error(model, bad) -> None:
    with pytest.raises(TypeError):
        model.embed(bad)
    with pytest.raises(TypeError):
        model.embed_sentences(bad)


def _long_text(words: int) -> str:
    return " ".join(["cancer", "heart", "attack", "risk"] * (words // 4))


def test_long_text_is_truncated_with_a_warning(model, caplog) -> None:
    text = _long_text(200)  # 200 pieces, max_length 64
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        [r] = model.embed([text])
    assert len(r) == 62  # 64 minus [CLS] and [SEP]
    assert any("truncated" in m and "max_length=64" in m for m in caplog.messages)
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        caplog.clear()
        [short] = model.embed([text], max_length=10)
    assert len(short) == 8


def test_overflow_window_embeds_every_word(model, caplog) -> None:
    text = _long_text(200)
    [truncated] = model.embed([text])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        [windowed] = model.embed([text], overflow="window")
    assert not [m for m in caplog.messages if "truncated" in m]
    assert windowed.tokens == text.split()
    assert windowed.offsets[-1][1] == len(text)
    # Words before the second window starts come from the first window,
    # which sees exactly what truncation sees.
    assert np.abs(windowed.vectors[:40] - truncated.vectors[:40]).max() <= 1e-5
    # Short texts are the same in both modes.
    [a] = model.embed(["I hate cancer"], overflow="window")
    [b] = model.embed(["I hate cancer"])
    assert np.array_equal(a.vectors, b.vectors)
    sentences = model.embed_sentences([text, "I hate cancer"], overflow="window")
    assert sentences.shape == (2, 32) and np.isfinite(sentences).all()
    assert np.abs(sentences[1] - model.embed_sentences(["I hate cancer"])[0]).max() <= 1e-5


def test_bad_options(model, tiny_bert: Path) -> None:
    with pytest.raises(ValueError, match="pooling"):
        model.embed(["x"], pooling="max")
    with pytest.raises(ValueError, match="pooling"):
        model.embed_sentences(["x"], pooling="first")
    with pytest.raises(ValueError, match="max_length"):
        model.embed(["x"], max_length=4096)
    with pytest.raises(ValueError, match="overflow"):
        load_path(tiny_bert, overflow="drop")


def test_bf16_is_close_to_fp32_for_every_token(model, tiny_bert: Path) -> None:
    bf16 = load_path(tiny_bert, dtype="bfloat16")
    assert "bfloat16" in repr(bf16)
    for a, b in zip(model.embed(TEXTS), bf16.embed(TEXTS), strict=True):
        assert a.tokens == b.tokens
        assert cosines(a.vectors, b.vectors).min() >= 0.999


def test_card_and_artifact_conflicts_warn_and_the_artifact_wins(tiny_bert: Path, caplog) -> None:
    card = ModelCard(name="tiny_card", case_sensitive=True, dimension=768)
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        m = load_path(tiny_bert, card, dtype="float32")
    text = " ".join(caplog.messages)
    assert "tiny_card" in text
    assert "dimension 768" in text and "hidden_size 32" in text
    assert "case sensitive" in text and "lowercases" in text
    assert len(m.conflicts) == 2
    assert m.dim == 32
    [r] = m.embed(["I HATE Cancer"])
    [lower] = m.embed(["i hate cancer"])
    assert r.tokens == ["I", "HATE", "Cancer"]
    assert np.array_equal(r.vectors, lower.vectors)  # the tokenizer lowercases


def test_cased_model_agreeing_card_has_no_conflict(tiny_bert_cased: Path, caplog) -> None:
    card = ModelCard(name="cased", case_sensitive=True, dimension=32)
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        m = load_path(tiny_bert_cased, card, dtype="float32")
        m.embed(["I"])
    assert m.conflicts == []
    [a], [b] = m.embed(["Aspirin"]), m.embed(["aspirin"])
    assert not np.allclose(a.vectors, b.vectors)


def test_case_conflict_found_from_the_tokenizer_when_config_is_silent(
    tiny_bert: Path, copy_of, caplog
) -> None:
    d = copy_of(tiny_bert)
    (d / "tokenizer_config.json").unlink()
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        m = load_path(d, ModelCard(name="silent", case_sensitive=True), dtype="float32")
        m.embed(["I"])
    assert any("lowercases" in c for c in m.conflicts)


def test_pickle_weights_load_with_weights_only(tiny_bert_pickle: Path, model) -> None:
    m = load_path(tiny_bert_pickle, dtype="float32")
    assert np.abs(m.embed_sentences(TEXTS) - model.embed_sentences(TEXTS)).max() <= 1e-6


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned-by-pickle",))


def test_a_pickle_with_code_is_refused(tiny_bert: Path, copy_of, tmp_path, monkeypatch) -> None:
    import torch

    d = copy_of(tiny_bert)
    (d / "model.safetensors").unlink()
    torch.save({"embeddings.word_embeddings.weight": _Evil()}, d / "pytorch_model.bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArtifactFormatError, match=str(d.name)):
        load_path(d, dtype="float32")
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_remote_code_is_never_run(tiny_bert: Path, copy_of, tmp_path) -> None:
    import json

    d = copy_of(tiny_bert)
    marker = tmp_path / "remote-code-ran"
    (d / "modeling_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\nfrom transformers import BertModel as EvilModel\n",
        encoding="utf-8",
    )
    config = json.loads((d / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (d / "config.json").write_text(json.dumps(config))
    m = load_path(d, dtype="float32")
    assert m.embed(["cancer"])[0].tokens == ["cancer"]
    assert type(m.model).__name__ == "BertModel"
    assert not marker.exists()


def test_vocab_txt_only_directory(tiny_bert: Path, copy_of, model) -> None:
    d = copy_of(tiny_bert)
    (d / "tokenizer.json").unlink()
    shutil.copy(tiny_bert.parent / "tiny-bert-vocab.txt", d / "vocab.txt")
    m = load_path(d, dtype="float32")
    for a, b in zip(m.embed(TEXTS), model.embed(TEXTS), strict=True):
        assert a.tokens == b.tokens and a.offsets == b.offsets
        assert np.abs(a.vectors - b.vectors).max() <= 1e-6


def test_zip_style_single_subfolder_is_found(tiny_bert: Path, tmp_path: Path) -> None:
    outer = tmp_path / "unpacked"
    shutil.copytree(tiny_bert, outer / "model")
    m = load_path(outer, dtype="float32")
    assert m.embed(["cancer"])[0].tokens == ["cancer"]


def test_max_length_defaults(tiny_bert: Path, copy_of, minilm_dir: Path, caplog) -> None:
    import json

    assert load_path(tiny_bert).max_length == 64  # model limit
    d = copy_of(tiny_bert)
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16}))
    assert load_path(d).max_length == 16  # sentence-transformers' setting
    assert load_path(d, max_length=32).max_length == 32
    with pytest.raises(ValueError, match="exceeds"):
        load_path(d, max_length=65)
    # The record's "Max sentence length" comes first; an explicit max_length still wins.
    card = ModelCard(name="tiny_card", max_sentence_length=24)
    assert load_path(d, card).max_length == 24
    assert load_path(d, card, max_length=32).max_length == 32
    assert load_path(d, ModelCard(name="no_row")).max_length == 16
    # More than the model's positions: clamped to them, with a warning.
    with caplog.at_level(logging.WARNING, logger="modelhub.loaders"):
        long = load_path(d, ModelCard(name="long_card", max_sentence_length=512))
    assert long.max_length == 64
    assert "long_card" in caplog.text and "512" in caplog.text and "supports 64" in caplog.text
