"""`modelhub embed` and `modelhub similarity` on local model directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelhub.cli.main import main
from modelhub.loaders import load_path


def test_embed_prints_a_preview_like_the_cards_results(tiny_bert: Path, capsys) -> None:
    assert main(["embed", str(tiny_bert), "I hate cancer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TOKEN", "BEGIN", "END", "EMBEDDINGS", "(32", "VALUES)"]
    assert [ln.split()[0] for ln in lines[1:]] == ["I", "hate", "cancer"]
    expected = load_path(tiny_bert).embed(["I hate cancer"])[0].vectors
    first = lines[1].split("[", 1)[1]
    values = [float(v) for v in first.split(", ")[:5]]
    assert np.allclose(values, expected[0, :5], atol=1e-2)  # bf16 or fp32, both close
    assert first.endswith("...]")


def test_embed_several_texts_json_and_npy(tiny_bert: Path, capsys, tmp_path: Path) -> None:
    args = ["embed", str(tiny_bert), "--dtype", "float32", "I hate cancer", "heart attack"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dimension"] == 32
    assert [r["tokens"] for r in data["results"]] == [["I", "hate", "cancer"], ["heart", "attack"]]
    assert data["results"][0]["offsets"][2] == [7, 13]
    model = load_path(tiny_bert, dtype="float32")
    ref = model.embed(["I hate cancer", "heart attack"])
    assert np.allclose(data["results"][1]["vectors"], ref[1].vectors, atol=1e-6)

    npy = tmp_path / "tokens.npy"
    assert main([*args, "--npy", str(npy)]) == 0
    array = np.load(npy)
    assert array.shape == (5, 32) and array.dtype == np.float32
    assert np.allclose(array, np.concatenate([r.vectors for r in ref]), atol=1e-6)

    npy = tmp_path / "sentences.npy"
    assert main([*args, "--sentence", "--normalize", "--npy", str(npy)]) == 0
    sentences = np.load(npy)
    assert sentences.shape == (2, 32)
    expected = model.embed_sentences(["I hate cancer", "heart attack"], normalize=True)
    assert np.allclose(sentences, expected, atol=1e-6)


def test_embed_usage_errors(tiny_bert: Path, capsys) -> None:
    assert main(["embed", str(tiny_bert), "x", "--sentence", "--pooling", "first"]) == 2
    assert main(["embed", str(tiny_bert), "x", "--pooling", "cls"]) == 2
    assert main(["embed", str(tiny_bert)]) == 2  # reported by main(), not raised


def test_embed_a_directory_no_loader_accepts(tmp_path: Path, capsys) -> None:
    assert main(["embed", str(tmp_path), "text"]) == 2
    err = capsys.readouterr().err
    assert "no installed loader accepts" in err and "bert" in err


def test_similarity_ranks_best_first(tiny_bert: Path, capsys) -> None:
    texts = ["cancer", "heart attack", "cancer", "tax return"]
    assert main(["similarity", str(tiny_bert), "--dtype", "float32", *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    scores = [float(ln.split()[0]) for ln in lines]
    assert scores == sorted(scores, reverse=True)
    assert lines[0].split(maxsplit=1) == ["1.0000", "cancer"]  # the same text
    assert main(["similarity", str(tiny_bert), "--json", *texts]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["text"] == "cancer"


@pytest.mark.slow
def test_similarity_makes_sense_on_real_weights(minilm_dir: Path, capsys) -> None:
    assert (
        main(
            [
                "similarity",
                str(minilm_dir),
                "heart attack",
                "tax return",
                "myocardial infarction",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(maxsplit=1)[1] for ln in lines] == ["myocardial infarction", "tax return"]
    assert float(lines[0].split()[0]) > float(lines[1].split()[0]) + 0.3
