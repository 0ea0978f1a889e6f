"""convert(): a Hugging Face directory that transformers loads and that computes the same
vectors; `modelhub convert` from a local zip."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelhub.cli.cmd_convert import cmd_convert, register
from modelhub.errors import ArtifactFormatError, UnsafeArchiveError
from modelhub.loaders.sparknlp.conversion import convert

from .conftest import FIXTURES, ZIPS
from .reference import reference_model

WORDS = ["The", "patient", "was", "unaffected", "!"]


def _hidden(model, tokenizer, words: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).last_hidden_state[0].numpy()


@pytest.mark.parametrize(("name", "lowercase"), [("onnx", True), ("tf1", True), ("tf2", False)])
def test_converted_directory_loads_in_transformers(
    unpacked: dict[str, Path], tmp_path: Path, name: str, lowercase: bool
) -> None:
    from transformers import AutoModel, AutoTokenizer, BertTokenizerFast

    out = convert(unpacked[name], tmp_path / "hf")
    assert {"config.json", "vocab.txt", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in out.iterdir()
    }
    config = json.loads((out / "config.json").read_text())
    assert config["num_attention_heads"] == 4 and config["hidden_size"] == 32
    assert config["sparknlp"]["params"]["caseSensitive"] is (not lowercase)
    model = AutoModel.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert tokenizer.tokenize("Café") == (["cafe"] if lowercase else tokenizer.tokenize("Café"))
    ref_tok = BertTokenizerFast(str(out / "vocab.txt"), do_lower_case=lowercase)
    got = _hidden(model, tokenizer, WORDS)
    expected = _hidden(reference_model(), ref_tok, WORDS)
    assert np.abs(got - expected).max() <= 1e-4


def test_refuses_a_non_empty_target_and_leaves_no_partial(
    unpacked: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "hf"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactFormatError, match="not empty"):
        convert(unpacked["onnx"], target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    convert(unpacked["onnx"], target, overwrite=True)
    # --overwrite replaces what convert writes and nothing else (issue 14 point 10)
    assert (target / "keep.txt").read_text() == "mine"
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def test_not_a_spark_nlp_zip(tmp_path: Path) -> None:
    with pytest.raises(ArtifactFormatError, match="Spark ML model folder"):
        convert(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _args(**kw):  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["convert", kw.pop("name"), "--to", kw.pop("to")]
    return parser.parse_args(base + kw.pop("extra", []))


def test_cli_converts_a_zip_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zip_path = FIXTURES / f"{ZIPS['tf2']}.zip"
    args = _args(name=str(zip_path), to=str(tmp_path / "hf"), extra=["--json"])
    assert cmd_convert(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(tmp_path / "hf")
    assert "model.safetensors" in data["files"]


def test_cli_converts_an_unpacked_folder(
    unpacked: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_convert(_args(name=str(unpacked["onnx"]), to=str(tmp_path / "o"))) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "o")


def test_engine_member_with_unsafe_path_is_refused(writable, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    with zipfile.ZipFile(root / "bert_onnx", "w") as zf:
        zf.writestr("../escape", b"x")
    # the same error as for any archive modelhub opens (modelhub.safezip)
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./escape' '\.\.' component"):
        convert(root, tmp_path / "hf")
    assert not (tmp_path / "escape").exists()
