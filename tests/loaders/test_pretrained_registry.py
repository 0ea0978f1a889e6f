"""``modelhub.pretrained(name, lang)`` end to end: a card the test writes,
resolved by the registry, fetched from the local Hugging Face server or (as
a zip) from the local S3 server, verified, cached, loaded, compared with
transformers and sentence-transformers run directly on the same files."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

import modelhub
from modelhub.loaders import BertEmbeddings
from tests.cardgen import embeddings_card, imported_from_hf, s3_url
from tests.loaders.reference import cosines, reference_tokens

pytestmark = pytest.mark.slow

REPO = "sentence-transformers/all-MiniLM-L6-v2"
ARTIFACT = "minilm_test_en_5.0.0_3.0_1700000000000.zip"
TEXTS = ["I hate cancer", "Aspirin lowers the risk of myocardial infarction.", ""]


FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentence_bert_config.json",
)


def _write_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, download: str | None) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "2023-11-14-minilm_test_en.md").write_text(
        embeddings_card(
            "minilm_test",
            title="MiniLM sentence embeddings (test card)",
            description=imported_from_hf(REPO),
            download=download,
            table={"Case sensitive": "true", "Dimension": "768"},
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))


def _check(model, minilm_dir: Path) -> None:
    results = model.embed(TEXTS)
    for text, r in zip(TEXTS, results, strict=True):
        if text:
            words, expected = reference_tokens(minilm_dir, text, max_length=model.max_length)
            assert r.tokens == words
            assert np.abs(r.vectors - expected).max() <= 1e-5
        else:
            assert len(r) == 0
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    got = model.embed_sentences(TEXTS, normalize=True)
    assert np.abs(got - reference).max() <= 1e-5


def test_pretrained_from_the_local_hugging_face_hub(
    hf_hub, minilm_dir: Path, tmp_path: Path, monkeypatch, caplog
) -> None:
    hf_hub.add_repo(REPO, {f: (minilm_dir / f).read_bytes() for f in FILES})
    _write_card(tmp_path, monkeypatch, download=None)
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        model = modelhub.pretrained("minilm_test", "en", dtype="float32")
    # The card claims case sensitive and 768 dimensions; the artifact wins.
    assert model.dim == 384
    assert any("dimension 768" in c for c in model.conflicts)
    assert any("case sensitive" in c and "lowercases" in c for c in model.conflicts)
    assert model.record.name == "minilm_test"
    _check(model, minilm_dir)

    # bf16 stays close to fp32 for every token.
    bf16 = modelhub.pretrained("minilm_test", "en", dtype="bfloat16", offline=True)
    for a, b in zip(model.embed(TEXTS), bf16.embed(TEXTS), strict=True):
        if len(a):
            assert cosines(a.vectors, b.vectors).min() >= 0.999
    # The cards' own API: served from the cache, offline.
    again = BertEmbeddings.pretrained("minilm_test", "en", offline=True, dtype="float32")
    assert np.array_equal(again.embed(TEXTS)[0].vectors, model.embed(TEXTS)[0].vectors)


def test_pretrained_zip_from_the_local_s3(
    s3, minilm_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    from modelhub.loaders import engines

    # The ONNX export in the cache entry is what this checks (OpenVINO's: its own tests).
    monkeypatch.setattr(engines, "AUTO_ORDER", ("onnx",))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for f in FILES:
            zf.write(minilm_dir / f, f)
    s3.put(f"public/models/{ARTIFACT}", buf.getvalue())
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", s3.endpoint)
    _write_card(tmp_path, monkeypatch, download=s3_url(ARTIFACT))
    model = modelhub.pretrained("minilm_test", "en", dtype="float32", loader="bert")
    assert str(model.hf.root).startswith(str(Path(modelhub_cache())))
    _check(model, minilm_dir)
    # ONNX Runtime, exported once into the cache entry.
    assert model.describe()["engine"] == "onnx"
    (graph,) = Path(modelhub_cache()).glob("entries/*/derived/onnx-*/model.onnx")
    again = modelhub.pretrained("minilm_test", "en", offline=True)
    assert again.encoder.path == graph
    assert np.array_equal(again.encode(TEXTS), model.encode(TEXTS))


def modelhub_cache() -> str:
    import os

    return os.environ["MODELHUB_CACHE"]
