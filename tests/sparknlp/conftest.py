"""Fixtures: the committed Spark NLP zips (see tests/fixtures/sparknlp/generate.py) unpacked
into temporary folders, and the reference transformers model they were made from."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sparknlp"
REFERENCE = FIXTURES / "reference"
ZIPS = {
    "onnx": "bert_tiny_onnx_uncased",
    "tf1": "bert_tiny_tf1_uncased",
    "tf2": "bert_tiny_tf2_cased",
    "sentence": "sent_bert_tiny_onnx_uncased",
}


def unpack(name: str, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(FIXTURES / f"{ZIPS[name]}.zip") as zf:
        zf.extractall(target)
    return target


@pytest.fixture(scope="session")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Read-only unpacked copies, shared by the session."""
    base = tmp_path_factory.mktemp("sparknlp")
    return {name: unpack(name, base / name) for name in ZIPS}


@pytest.fixture
def writable(tmp_path: Path, unpacked: dict[str, Path]):  # type: ignore[no-untyped-def]
    """A private copy to damage: ``writable("onnx")``."""

    def make(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(unpacked[name], dest)
        return dest

    return make


@pytest.fixture(scope="session")
def reference_vocab() -> list[str]:
    return (REFERENCE / "vocab.txt").read_text(encoding="utf-8").splitlines()
