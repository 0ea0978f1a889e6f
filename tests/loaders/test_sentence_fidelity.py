"""sentence-transformers fidelity: small sentence-transformers models built and saved with
the real package (each Pooling mode, Dense layers, Normalize, do_lower_case), loaded by
modelhub; default ``encode()`` must equal ``SentenceTransformer(dir).encode()``."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelhub
from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sentence_modules import UnsupportedModuleError

st = pytest.importorskip("sentence_transformers")

TEXTS = [
    "I hate cancer",
    "Aspirin lowers the risk of myocardial infarction.",
    "",
    "heart attack",
    "the patient " * 30,  # longer than max_seq_length: truncated by both
]
MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]


def _modules() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import models
    return models


def _save(target: Path, base: Path, *heads: Any, safe: bool = True, max_len: int = 24) -> Path:
    import torch

    models = _modules()
    torch.manual_seed(1)
    transformer = models.Transformer(str(base), max_seq_length=max_len)
    st.SentenceTransformer(modules=[transformer, *heads], device="cpu").save(
        str(target), safe_serialization=safe
    )
    return target


@pytest.fixture(scope="module")
def built(tiny_bert: Path, tiny_bert_cased: Path, tmp_path_factory) -> dict[str, Path]:
    import torch

    models = _modules()
    base = tmp_path_factory.mktemp("st")
    out: dict[str, Path] = {}
    for mode in MODES:
        out[mode] = _save(base / mode, tiny_bert, models.Pooling(32, pooling_mode=mode))
    with warnings.catch_warnings():  # the bool keys work in every sentence-transformers >= 3
        warnings.simplefilter("ignore")
        multi = models.Pooling(
            32, pooling_mode_cls_token=True, pooling_mode_mean_tokens=True,
            pooling_mode_max_tokens=True,
        )  # fmt: skip
    out["cls+mean+max"] = _save(base / "multi", tiny_bert, multi)
    out["dense+normalize"] = _save(
        base / "dense",
        tiny_bert,
        models.Pooling(32, pooling_mode="mean"),
        models.Dense(32, 16, activation_function=torch.nn.Tanh()),
        models.Normalize(),
    )
    out["two dense, pickles"] = _save(
        base / "pickles",
        tiny_bert,
        models.Pooling(32, pooling_mode="cls"),
        models.Dense(32, 24, activation_function=torch.nn.GELU()),
        models.Dense(24, 8, bias=False, activation_function=torch.nn.Identity()),
        safe=False,
    )
    assert list(out["two dense, pickles"].glob("*_Dense/pytorch_model.bin"))
    out["no prompt pooling"] = _save(
        base / "noprompt", tiny_bert, models.Pooling(32, pooling_mode="mean", include_prompt=False)
    )
    # An older layout: sentence_bert_config.json with do_lower_case on a cased tokenizer.
    lower = _save(base / "lower", tiny_bert_cased, models.Pooling(32, pooling_mode="max"))
    (lower / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 12, "do_lower_case": True}), encoding="utf-8"
    )
    out["do_lower_case"] = lower
    return out


CASES = [
    *MODES,
    "cls+mean+max",
    "dense+normalize",
    "two dense, pickles",
    "no prompt pooling",
    "do_lower_case",
]


@pytest.mark.parametrize("case", CASES)
def test_default_encode_equals_sentence_transformers(built: dict[str, Path], case: str) -> None:
    path = built[case]
    expected = st.SentenceTransformer(str(path), device="cpu").encode(TEXTS, batch_size=2)
    model = modelhub.pretrained(path)
    got = model.encode(TEXTS, batch_size=2)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5
    assert model.sentence_dim == expected.shape[1]
    single = model.encode(TEXTS[1])
    assert np.abs(single - expected[1]).max() <= 1e-5


def test_dense_and_normalize_change_dimension_and_norm(built: dict[str, Path]) -> None:
    model = modelhub.pretrained(built["dense+normalize"])
    got = model.encode(TEXTS)
    assert got.shape == (len(TEXTS), 16)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    # normalize_embeddings=False does not undo the model's Normalize (sentence-transformers')
    assert np.allclose(model.encode(TEXTS, normalize_embeddings=False), got)
    # embed_sentences keeps its documented meaning: mean of the token states, 32 values
    assert model.embed_sentences(TEXTS).shape == (len(TEXTS), 32)


def test_windowed_encode_pools_the_whole_text(built: dict[str, Path]) -> None:
    """overflow='window' covers every piece; a short text gives what truncation gives."""
    path = built["max"]
    windowed = modelhub.pretrained(path, overflow="window")
    plain = modelhub.pretrained(path)
    assert np.allclose(windowed.encode(TEXTS[:4]), plain.encode(TEXTS[:4]), atol=1e-6)
    long_text = "i hate cancer " * 20 + "aspirin"
    assert not np.allclose(windowed.encode(long_text), plain.encode(long_text), atol=1e-3)


def _with_module(src: Path, dest: Path, entry: dict[str, Any]) -> Path:
    shutil.copytree(src, dest)
    listing = json.loads((dest / "modules.json").read_text(encoding="utf-8"))
    listing.append({"idx": len(listing), "name": str(len(listing)), **entry})
    (dest / "modules.json").write_text(json.dumps(listing), encoding="utf-8")
    return dest


@pytest.mark.parametrize(
    "type_name",
    ["sentence_transformers.models.LayerNorm", "my_package.modules.Rerank"],
)
def test_unknown_modules_are_refused_by_name(
    built: dict[str, Path], tmp_path: Path, type_name: str
) -> None:
    path = _with_module(built["mean"], tmp_path / "odd", {"path": "3_X", "type": type_name})
    with pytest.raises(UnsupportedModuleError, match=type_name) as info:
        modelhub.pretrained(path)
    assert info.value.module == type_name
    assert isinstance(info.value, ArtifactFormatError)


def test_unsupported_dense_activation_is_refused(built: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "act"
    shutil.copytree(built["dense+normalize"], path)
    config_file = next(path.glob("*_Dense/config.json"))
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["activation_function"] = "torch.nn.modules.activation.Hardshrink"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(UnsupportedModuleError, match="Hardshrink"):
        modelhub.pretrained(path)


def test_a_directory_without_modules_json_keeps_mean_pooling(tiny_bert: Path) -> None:
    """What sentence-transformers does too: Transformer + mean Pooling, no Normalize."""
    model = modelhub.pretrained(tiny_bert)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = st.SentenceTransformer(str(tiny_bert), device="cpu").encode(TEXTS[:4])
    got = model.encode(TEXTS[:4])
    assert np.abs(got - expected).max() <= 1e-5
    assert np.allclose(got, model.embed_sentences(TEXTS[:4]), atol=1e-6)
