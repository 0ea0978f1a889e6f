"""Fixtures of the transformer-family tests: the committed zips of
``tests/fixtures/sparknlp/families`` (see ``generate_families.py``) unpacked once, their
reference transformers models, and the ``sparknlp_transformer`` loader registered."""

from __future__ import annotations

import importlib.util
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

FAMILIES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sparknlp" / "families"
REFERENCE = FAMILIES_DIR / "reference"
MANIFEST: dict[str, dict[str, str]] = json.loads(
    (FAMILIES_DIR / "MANIFEST.json").read_text(encoding="utf-8")
)
ZIPS = tuple(MANIFEST)
WORDPIECE_REFS = ("bert", "distilbert", "mpnet")
ENTRY_POINT = "sparknlp_transformer"


def _tokenizer_module(name: str) -> str:
    ref = MANIFEST[name]["reference"]
    kind = (
        "wordpiece"
        if ref in WORDPIECE_REFS
        else "bpe"
        if ref in ("roberta", "longformer")
        else "sentencepiece"
    )
    return f"modelhub.loaders.sparknlp.tokenizers.{kind}"


def needs_tokenizers(name: str) -> None:
    """Skips while the family's tokenizer module is not in this tree (it comes from the
    tokenizers package's own branch)."""
    module = _tokenizer_module(name)
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{name}: its tokenizer ({module}) is not in this tree yet")
    if name.endswith("_tensorflow"):
        for needed in ("torch", "modelhub.loaders.sparknlp.runners.tensorflow"):
            if importlib.util.find_spec(needed) is None:
                pytest.skip(f"{name}: needs {needed}")
    if name.endswith("_openvino"):
        for needed in ("openvino", "modelhub.loaders.sparknlp.runners.openvino"):
            if importlib.util.find_spec(needed) is None:
                pytest.skip(f"{name}: needs {needed} (pip install 'modelhub[openvino]')")


@pytest.fixture(scope="session")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every family zip unpacked once (read-only by convention)."""
    base = tmp_path_factory.mktemp("families")
    out = {}
    for name in ZIPS:
        with zipfile.ZipFile(FAMILIES_DIR / f"{name}.zip") as zf:
            zf.extractall(base / name)
        out[name] = base / name
    return out


_REFS: dict[str, tuple[Any, Any]] = {}


def reference(name: str) -> tuple[Any, Any]:
    """(transformers model, tokenizer) of the zip's reference folder, loaded once."""
    ref = MANIFEST[name]["reference"]
    if ref not in _REFS:
        import transformers

        cls = transformers.T5EncoderModel if ref == "t5" else transformers.AutoModel
        model = cls.from_pretrained(REFERENCE / ref).eval()
        tok = transformers.AutoTokenizer.from_pretrained(REFERENCE / ref)
        _REFS[ref] = (model, tok)
    return _REFS[ref]


@pytest.fixture(scope="session")
def transformer_loader_registered(tmp_path_factory: pytest.TempPathFactory) -> None:
    """``sparknlp_transformer`` found through the entry-point group. A venv installed from
    an older pyproject.toml lacks the entry point: then a distribution on sys.path
    registers the one pyproject.toml declares (CI's fresh install has it already)."""
    from modelhub.loaders import discover

    if any(e.name == ENTRY_POINT for e in discover()):
        return
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text("utf-8")
    found = re.search(rf'^{ENTRY_POINT} = "([^"]+)"', pyproject, re.MULTILINE)
    assert found, f"pyproject.toml declares no {ENTRY_POINT} entry point"
    site = tmp_path_factory.mktemp("site")
    info = site / "modelhub_sparknlp_transformer-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: modelhub-sparknlp-transformer\nVersion: 0\n", "utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[modelhub.loaders]\n{ENTRY_POINT} = {found.group(1)}\n", "utf-8"
    )
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(site))
    assert any(e.name == ENTRY_POINT for e in discover())


def external_data_graph(engine: Path, work: Path, location: str) -> Path:
    """Writes the graph of the ``*_onnx`` engine zip ``engine`` into ``work`` with all its
    weights in one external-data file ``location`` (as big models are exported); returns
    the new ``model.onnx``. The caller decides what of the two goes back into the zip."""
    onnx = pytest.importorskip("onnx")
    with zipfile.ZipFile(engine) as zf:
        graph = onnx.load_model_from_string(zf.read(zf.namelist()[0]))
    work.mkdir()
    onnx.save_model(
        graph, str(work / "model.onnx"), save_as_external_data=True,
        all_tensors_to_one_file=True, location=location, size_threshold=0,
    )  # fmt: skip
    return work / "model.onnx"
