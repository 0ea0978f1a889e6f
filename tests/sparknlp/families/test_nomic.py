"""NomicEmbeddings zips (ONNX, OpenVINO) through the ``sparknlp_transformer`` loader.

``nomic_onnx.zip`` / ``nomic_openvino.zip`` hold a tiny random ``NomicBertModel``
(transformers' nomic_bert: rotary positions, SwiGLU) behind the interface of Spark NLP's Nomic
graph (``ml/ai/Nomic.scala`` @39d3fd9f: WordPiece vocabulary, inputs ``input_ids`` +
``attention_mask``, output ``sentence_embedding`` [B, H]): its last states, a masked mean and
L2 (see ``generate_families.py``). The loader must take the graph's ``sentence_embedding`` as
the sentence vector as is, under both semantics, batched or not; the reference is
transformers' ``NomicBertModel`` on the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.transformer.loader import SparkNlpTransformerLoader

from .conftest import MANIFEST, needs_tokenizers, reference

pytest.importorskip("onnxruntime")
pytest.importorskip("transformers")

NOMIC = [name for name in MANIFEST if name.startswith("nomic_")]
TEXTS = ["I hate cancer", "the patient was given a dose of aspirin.", "New York cafe!", "a"]


def graph_vector(name: str, text: str) -> np.ndarray:
    """What the graph computes, from transformers on the same weights: the mean of
    the last states over the [CLS] text [SEP] pieces (Nomic's mask is all ones), then L2."""
    import torch

    model, tok = reference(name)
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        states = model(**enc).last_hidden_state[0].numpy()
    mean = states.mean(0)
    return mean / np.linalg.norm(mean)


@pytest.mark.parametrize("semantics", ["sparknlp", "huggingface"])
@pytest.mark.parametrize("name", NOMIC)
def test_the_graphs_sentence_embedding_is_the_vector(
    family_dirs: dict[str, Path], name: str, semantics: str
) -> None:
    needs_tokenizers(name)
    assert len(NOMIC) == 2, "one zip per Nomic engine (ONNX, OpenVINO)"
    model = SparkNlpTransformerLoader().load(family_dirs[name], None, semantics=semantics)
    assert model.describe()["annotator"] == "NomicEmbeddings"
    assert "sentence_embedding" in model.runner.outputs
    got = model.encode(TEXTS)
    for text, vector in zip(TEXTS, got, strict=True):
        assert np.abs(vector - graph_vector(name, text)).max() <= 1e-4, text
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    alone = np.stack([model.encode(t) for t in TEXTS])
    assert np.abs(model.encode(TEXTS, batch_size=3) - alone).max() <= 1e-5


def test_a_nomic_graph_has_no_token_vectors_to_give(family_dirs: dict[str, Path]) -> None:
    needs_tokenizers("nomic_onnx")
    model = SparkNlpTransformerLoader().load(family_dirs["nomic_onnx"], None)
    with pytest.raises(ArtifactFormatError, match="no token vectors"):
        model.encode("I hate cancer", output_value="token_embeddings")
