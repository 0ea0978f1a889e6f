"""TensorFlow engines of Spark NLP transformer zips, run without TensorFlow: the runner's
outputs equal transformers' torch model on the same weights.

Fixtures (``tests/fixtures/sparknlp/families/<family>/``): ``<prefix>_tensorflow`` written by
TensorFlow itself (``tf_family_writer.py`` under ``.venv-tf``; its own forward was checked
against torch before writing) and ``reference_tf/``, the torch model they came from.
Regenerate with ``python tests/fixtures/sparknlp/tf_family_fixtures.py``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from modelhub.errors import ArtifactFormatError  # noqa: E402
from modelhub.loaders.sparknlp.families import family_for  # noqa: E402
from modelhub.loaders.sparknlp.runners.tensorflow import open_tensorflow  # noqa: E402

FAMILIES = Path(__file__).resolve().parents[2] / "fixtures" / "sparknlp" / "families"

#: fixture folder -> (annotator, naming scheme, outputs)
CASES = {
    "distilbert": ("DistilBertEmbeddings", "hf", ("last_hidden_state",)),
    "roberta": ("RoBertaSentenceEmbeddings", "hf", ("last_hidden_state", "pooler_output")),
    "camembert": ("CamemBertEmbeddings", "hf", ("last_hidden_state", "pooler_output")),
    "xlm-roberta": ("XlmRoBertaSentenceEmbeddings", "hf", ("last_hidden_state", "pooler_output")),
    "e5": ("E5Embeddings", "hf", ("last_hidden_state", "pooler_output")),
    "mpnet": ("MPNetEmbeddings", "hf", ("last_hidden_state", "pooler_output")),
    "instructor": ("InstructorEmbeddings", "hf", ("last_hidden_state",)),
    "albert": ("AlbertEmbeddings", "albert-hub", ("last_hidden_state", "pooler_output")),
    "xlnet": ("XlnetEmbeddings", "xlnet-orig", ("last_hidden_state",)),
    "deberta": ("DeBertaEmbeddings", "hf", ("last_hidden_state",)),
    # attention window 6 < the 11 tokens of the test batch: the window read from the graph
    # matters
    "longformer": ("LongformerEmbeddings", "hf", ("last_hidden_state", "pooler_output")),
    # the same ALBERT weights as Spark NLP 3.x+ imports them from Hugging Face (TF2 names;
    # the layer count comes from the traced calls of the shared layer)
    "albert/hf": ("AlbertEmbeddings", "hf", ("last_hidden_state", "pooler_output")),
    "xlnet/hf": ("XlnetEmbeddings", "hf", ("last_hidden_state",)),
}


def engine_of(folder: str) -> Path:
    return next((FAMILIES / folder).glob("*_tensorflow"))


def reference(folder: str):  # type: ignore[no-untyped-def]
    ref = FAMILIES / folder.split("/")[0] / "reference_tf"
    config = json.loads((ref / "config.json").read_text())
    cls = transformers.T5EncoderModel if config["model_type"] == "t5" else transformers.AutoModel
    return cls.from_pretrained(ref).eval()


def batch(vocab: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Two rows, the second right-padded: masking must match too."""
    ids = np.random.default_rng(3).integers(5, vocab, size=(2, 11)).astype(np.int64)
    mask = np.ones_like(ids)
    ids[1, 7:] = pad
    mask[1, 7:] = 0
    return ids, mask


@pytest.mark.parametrize("folder", sorted(CASES))
def test_runner_equals_transformers_on_the_same_weights(folder: str) -> None:
    annotator, scheme, outputs = CASES[folder]
    runner = open_tensorflow(engine_of(folder), family_for(annotator), root=FAMILIES / folder)
    model = reference(folder)
    assert runner.engine == "tensorflow"
    assert runner.scheme == scheme
    assert runner.outputs == outputs
    assert runner.hidden_size == 32
    ids, mask = batch(model.config.vocab_size, model.config.pad_token_id or 0)
    got = runner(ids, mask)
    feed = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
    if "token_type_ids" in runner.inputs:
        # the TF1 graphs take segment ids, which Spark NLP feeds as zeros; for XLNet zeros
        # differ from none (the segment term of its attention is then computed)
        feed["token_type_ids"] = torch.zeros_like(feed["input_ids"])
    with torch.no_grad():
        want = model(**feed)
    assert got["last_hidden_state"].dtype == np.float32
    assert got["last_hidden_state"].shape == (2, 11, 32)
    assert np.abs(got["last_hidden_state"] - want.last_hidden_state.numpy()).max() < 1e-4
    if "pooler_output" in outputs:
        assert np.abs(got["pooler_output"] - want.pooler_output.numpy()).max() < 1e-4


def test_config_comes_from_the_weights_and_the_graph() -> None:
    """ALBERT stores one shared layer group; how many times it runs (3), its heads (4) and
    its tanh GELU are read from the TF-Hub graph, not assumed."""
    runner = open_tensorflow(
        engine_of("albert"), family_for("AlbertEmbeddings"), root=FAMILIES / "albert"
    )
    config = runner.model.config
    assert (config.num_hidden_layers, config.num_hidden_groups) == (3, 1)
    assert config.num_attention_heads == 4
    assert config.hidden_act == "gelu_new"
    assert config.embedding_size == 16
    assert runner.inputs == ("input_ids", "attention_mask", "token_type_ids")
    t5 = open_tensorflow(
        engine_of("instructor"), family_for("InstructorEmbeddings"), root=FAMILIES / "instructor"
    )
    assert (t5.model.config.num_heads, t5.model.config.d_kv) == (4, 8)
    assert t5.inputs == ("input_ids", "attention_mask")
    xlnet = open_tensorflow(
        engine_of("xlnet"), family_for("XlnetEmbeddings"), root=FAMILIES / "xlnet"
    )
    # zihangdai/xlnet's tanh GELU, seen in the graph (transformers' XLNet default is erf)
    assert xlnet.model.config.ff_activation == "gelu_new"
    longformer = open_tensorflow(
        engine_of("longformer"), family_for("LongformerEmbeddings"), root=FAMILIES / "longformer"
    )
    assert longformer.model.config.attention_window == [6, 6]
    assert (xlnet.model.config.n_head, xlnet.model.config.d_head) == (4, 8)


def test_padding_does_not_change_the_real_tokens() -> None:
    runner = open_tensorflow(
        engine_of("roberta"), family_for("RoBertaEmbeddings"), root=FAMILIES / "roberta"
    )
    ids, mask = batch(64, 1)
    alone = runner(ids[1:, :7], mask[1:, :7])["last_hidden_state"]
    padded = runner(ids, mask)["last_hidden_state"][1:, :7]
    assert np.abs(alone - padded).max() < 1e-5


def test_missing_variable_is_a_typed_error_naming_the_file() -> None:
    path = FAMILIES / "albert" / "damaged" / "missing_albert_tensorflow"
    with pytest.raises(ArtifactFormatError) as err:
        open_tensorflow(path, family_for("AlbertEmbeddings"), root=path.parent)
    assert str(path) in str(err.value)
    assert "full_layer_layer_norm.weight" in str(err.value)


def test_wrong_shape_is_a_typed_error_naming_the_file_and_variable() -> None:
    path = FAMILIES / "albert" / "damaged" / "shape_albert_tensorflow"
    with pytest.raises(ArtifactFormatError) as err:
        open_tensorflow(path, family_for("AlbertEmbeddings"), root=path.parent)
    message = str(err.value)
    assert str(path) in message
    assert "inner_group_0/ffn_1/intermediate/output/dense/kernel" in message
    assert "[32, 38]" in message


def test_engine_of_another_family_is_refused(tmp_path: Path) -> None:
    """A T5 checkpoint opened as DistilBERT has none of DistilBERT's variables."""
    with pytest.raises(ArtifactFormatError, match="instructor_tensorflow"):
        open_tensorflow(engine_of("instructor"), family_for("DistilBertEmbeddings"), root=tmp_path)


def test_zip_without_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e5_tensorflow"
    with zipfile.ZipFile(engine_of("e5")) as src, zipfile.ZipFile(path, "w") as dst:
        dst.writestr("saved_model.pb", src.read("saved_model.pb"))
    with pytest.raises(ArtifactFormatError, match="no TensorFlow checkpoint inside") as err:
        open_tensorflow(path, family_for("E5Embeddings"), root=tmp_path)
    assert str(path) in str(err.value)


def test_truncated_data_shard_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "distilbert_tensorflow"
    with zipfile.ZipFile(engine_of("distilbert")) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("variables/variables.data"):
                data = data[: len(data) // 2]
            dst.writestr(info.filename, data)
    with pytest.raises(ArtifactFormatError, match="truncated") as err:
        open_tensorflow(path, family_for("DistilBertEmbeddings"), root=tmp_path)
    assert "distilbert_tensorflow" in str(err.value)


@pytest.mark.parametrize("name", ["bert_tiny_tf1_uncased.zip", "bert_tiny_tf2_cased.zip"])
def test_bert_engines_of_both_namings(name: str, tmp_path: Path) -> None:
    """The BERT fixtures (original TF1 names, Hugging Face TF2 names) through the same
    runner equal the reference BertModel they were written from."""
    outer = FAMILIES.parent / name
    with zipfile.ZipFile(outer) as zf:
        (tmp_path / "bert_tensorflow").write_bytes(zf.read("bert_tensorflow"))
    runner = open_tensorflow(
        tmp_path / "bert_tensorflow", family_for("BertEmbeddings"), root=tmp_path
    )
    assert runner.scheme == ("bert-tf1" if "tf1" in name else "hf")
    model = transformers.BertModel.from_pretrained(FAMILIES.parent / "reference").eval()
    ids, mask = batch(model.config.vocab_size, 0)
    with torch.no_grad():
        want = model(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            token_type_ids=torch.zeros(ids.shape, dtype=torch.long),
        )
    got = runner(ids, mask)
    assert np.abs(got["last_hidden_state"] - want.last_hidden_state.numpy()).max() < 1e-4


def test_family_without_tensorflow_mapping_is_a_typed_error(tmp_path: Path) -> None:
    """Nomic has no TensorFlow engine in Spark NLP; its model type has no name mapping."""
    with pytest.raises(ArtifactFormatError, match="not supported") as err:
        open_tensorflow(engine_of("e5"), family_for("NomicEmbeddings"), root=tmp_path)
    assert "e5_tensorflow" in str(err.value)
