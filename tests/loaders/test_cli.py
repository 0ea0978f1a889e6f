"""`modelhub embed` and `modelhub similarity` on local model directories."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from modelhub.cli.app import main
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


def _reference(path: Path, texts: list[str]) -> np.ndarray:
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(path), device="cpu").encode(texts)


def test_embed_sentence_and_similarity_use_encode(st_dense: Path, capsys) -> None:
    texts = ["I hate cancer", "heart attack", "cancer"]
    expected = _reference(st_dense, texts)  # Dense to 16 values, normalized
    assert main(["embed", str(st_dense), "--sentence", "--json", *texts]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dimension"] == 16
    got = np.array([r["vector"] for r in data["results"]])
    assert np.abs(got - expected).max() <= 1e-5
    assert main(["similarity", str(st_dense), "--json", *texts]) == 0
    rows = {r["text"]: r["score"] for r in json.loads(capsys.readouterr().out)}
    for i, text in enumerate(texts[1:], 1):
        assert rows[text] == pytest.approx(float(expected[0] @ expected[i]), abs=1e-5)


def test_dtype_help_lists_exactly_what_is_accepted(capsys) -> None:
    from modelhub.loaders.runtime import _DTYPES

    with pytest.raises(SystemExit) as info:
        main(["embed", "--help"])
    assert info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    dtype_help = help_text.split("--dtype DTYPE")[-1].split("--engine ENGINE", 1)[0]
    for spelling in ["auto", *_DTYPES]:
        assert spelling in dtype_help


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--dtype", "int4", "dtype='int4': use 'auto', 'float32'"),
        ("--device", "gpu", "device='gpu': use 'auto', 'cpu', 'cuda'"),
        ("--engine", "fast", "engine='fast': use 'auto', 'torch'"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    tiny_bert: Path, capsys, flag: str, value: str, says: str
) -> None:
    assert main(["embed", str(tiny_bert), "x", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_device_cuda_without_cuda(tiny_bert: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["embed", str(tiny_bert), "x", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available here" in err


def test_embed_a_missing_directory(capsys) -> None:
    assert main(["embed", "./missing-dir", "hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modelhub: error: no directory ./missing-dir")
    assert "catalog" not in err


def test_overflow_flag(tiny_bert: Path, capsys, caplog) -> None:
    long_text = "aspirin lowers the risk of myocardial infarction " * 12  # > 64 pieces
    args = ["embed", str(tiny_bert), "--sentence", "--json", long_text]
    assert main(args) == 0
    truncated = json.loads(capsys.readouterr().out)["results"][0]["vector"]
    assert "overflow='window'" in caplog.text and "--overflow window" in caplog.text
    caplog.clear()
    assert main([*args, "--overflow", "window"]) == 0
    windowed = json.loads(capsys.readouterr().out)["results"][0]["vector"]
    assert "truncated" not in caplog.text
    assert not np.allclose(truncated, windowed, atol=1e-4)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_status_line_while_loading_on_a_terminal_only(
    tiny_bert: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["embed", str(tiny_bert), "x"]) == 0
    assert "loading" not in capsys.readouterr().err  # not a terminal
    fake = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    assert main(["embed", str(tiny_bert), "x"]) == 0
    err = fake.getvalue()
    assert f"\rloading {tiny_bert} (en)\u2026" in err
    assert err.endswith("\r\033[K")  # cleared before the output
