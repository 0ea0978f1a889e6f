"""End to end: a Spark NLP zip built from the authentic fixtures, served by the local S3
server, resolved from a card the test writes, fetched, verified, cached and loaded by
``modelhub.pretrained()``; token vectors equal transformers' with the first-piece rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import modelhub
from tests.cardgen import SPARKNLP_TINY_ARTIFACT, sparknlp_tiny_card, write_card

from .conftest import FIXTURES, ZIPS
from .reference import first_piece_vectors

pytestmark = pytest.mark.slow

ARTIFACT = SPARKNLP_TINY_ARTIFACT
SPARKNLP_CARD = sparknlp_tiny_card(title="Tiny BERT in a Spark NLP zip (test card)")


@pytest.mark.parametrize("variant", ["tf1", "onnx"])
def test_pretrained_spark_nlp_zip_from_the_local_s3(
    s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    from modelhub.loaders import installed_loaders

    if "sparknlp_bert" not in {lo.name for lo in installed_loaders()}:
        pytest.skip("the sparknlp_bert entry point is not installed (pyproject + pip install -e)")
    s3.put(f"public/models/{ARTIFACT}", (FIXTURES / f"{ZIPS[variant]}.zip").read_bytes())
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", s3.endpoint)
    cards = tmp_path / "cards"
    write_card(cards, "2022-02-21-bert_tiny_sparknlp_en.md", SPARKNLP_CARD)
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))

    model = modelhub.pretrained("bert_tiny_sparknlp", "en", dtype="float32")
    assert model.engine == ("onnx" if variant == "onnx" else "tensorflow")
    assert model.record.name == "bert_tiny_sparknlp" and model.conflicts == []
    for emb in model.embed(["I hate cancer", "The patient was unaffected!"]):
        expected = first_piece_vectors(emb.tokens, lowercase=True, max_length=model.max_length)
        assert np.abs(emb.vectors - expected).max() <= 1e-4
