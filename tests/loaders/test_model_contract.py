"""The model interface (modelhub.loaders.model.EmbeddingModel), one contract run against
every built-in loader's model: ``bert`` (a tiny transformers directory),
``sparknlp_bert`` (the committed Spark NLP zips, ONNX and TensorFlow engines, token and
sentence annotators) and ``sparknlp_transformer`` (the committed family zips: word-level
WordPiece and SentencePiece, sentence-level with mean + L2, strategy and Instructor pooling,
in both semantics)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelhub.errors import ArtifactFormatError, OptionError
from modelhub.loaders import EmbeddingModel, load_path
from modelhub.loaders.model import quantize_embeddings
from modelhub.loaders.tokens import TokenEmbeddings
from tests.sparknlp.conftest import unpack
from tests.sparknlp.families.conftest import FAMILIES_DIR

TEXTS = ["I hate cancer", "heart attack", "", "aspirin lowers the risk of infarction", "tax"]


#: sparknlp_transformer models: (family zip, semantics)
FAMILY_MODELS = {
    "family-distilbert": ("distilbert_onnx", "sparknlp"),
    "family-albert": ("albert_onnx", "sparknlp"),
    "family-e5": ("e5_onnx", "sparknlp"),
    "family-uae": ("uae_onnx", "sparknlp"),
    "family-instructor": ("instructor_onnx", "sparknlp"),
    "family-xlmr-hf": ("xlmroberta_onnx", "huggingface"),
}


@pytest.fixture(
    scope="module",
    params=["bert", "sparknlp-onnx", "sparknlp-tf1", "sparknlp-sent", *FAMILY_MODELS],
)
def model(request: pytest.FixtureRequest, tiny_bert: Path, tmp_path_factory) -> EmbeddingModel:
    if request.param == "bert":
        return load_path(tiny_bert)
    if request.param in FAMILY_MODELS:
        import zipfile

        from modelhub.loaders.sparknlp.transformer.loader import SparkNlpTransformerLoader

        name, semantics = FAMILY_MODELS[request.param]
        folder = tmp_path_factory.mktemp("contract") / name
        with zipfile.ZipFile(FAMILIES_DIR / f"{name}.zip") as zf:
            zf.extractall(folder)
        return load_path(folder, loader=SparkNlpTransformerLoader(), semantics=semantics)
    zip_name = {"sparknlp-onnx": "onnx", "sparknlp-tf1": "tf1", "sparknlp-sent": "sentence"}
    folder = unpack(zip_name[request.param], tmp_path_factory.mktemp("contract") / "zip")
    return load_path(folder, loader="sparknlp_bert")


def _has_token_output(model: EmbeddingModel) -> bool:
    """A Spark NLP sentence zip's ONNX graph may hold only the pooler output."""
    outputs = getattr(getattr(model, "model", None), "outputs", None)
    return outputs is None or "last_hidden_state" in outputs


def test_is_an_embedding_model_with_the_documented_shapes(model: EmbeddingModel) -> None:
    assert isinstance(model, EmbeddingModel)
    one = model.encode("I hate cancer")
    assert one.shape == (model.sentence_dim,) and one.dtype == np.float32
    many = model.encode(TEXTS)
    assert many.shape == (len(TEXTS), model.sentence_dim) and many.dtype == np.float32
    assert model.get_sentence_embedding_dimension() == model.sentence_dim
    assert np.allclose(many[0], one, atol=1e-6)
    assert model.encode([]).shape == (0, model.sentence_dim)
    # any iterable of str, not only lists
    assert np.allclose(model.encode(t for t in TEXTS), many, atol=1e-6)
    assert np.allclose(model.encode(tuple(TEXTS), batch_size=2), many, atol=1e-5)
    # the older calls stay
    if not _has_token_output(model):
        with pytest.raises(ArtifactFormatError, match="no output 'last_hidden_state'"):
            model.embed(["I hate cancer"])
    else:
        tokens = model.embed(["I hate cancer"])
        assert isinstance(tokens[0], TokenEmbeddings) and tokens[0].dim == model.dim
    assert model.embed_sentences(TEXTS).shape[0] == len(TEXTS)


def _bert_vocab(model: EmbeddingModel) -> bool:
    """A BERT word-piece vocabulary, where "I hate cancer" is [CLS] i hate cancer [SEP]."""
    family = getattr(model, "family", None)
    return family is None or (family.tokenizer == "wordpiece" and family.family != "instructor")


def test_normalize_and_truncate(model: EmbeddingModel) -> None:
    normed = model.encode(TEXTS, normalize_embeddings=True)
    assert np.allclose(np.linalg.norm(normed[[0, 1, 3, 4]], axis=1), 1.0, atol=1e-5)
    raw = model.encode(TEXTS)
    if getattr(model, "normalizes", False):  # the annotator's own pooling ends in L2
        assert np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-5)
    else:
        assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)  # no Normalize
    cut = model.encode(TEXTS, truncate_dim=8)
    assert np.allclose(cut, raw[:, :8])


def test_tensor_and_token_outputs(model: EmbeddingModel) -> None:
    torch = pytest.importorskip("torch")
    tensor = model.encode(TEXTS, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == (5, model.sentence_dim)
    rows = model.encode(TEXTS, convert_to_numpy=False)
    assert isinstance(rows, list) and len(rows) == 5 and isinstance(rows[0], torch.Tensor)
    if not _has_token_output(model):
        return
    states = model.encode(TEXTS, output_value="token_embeddings")
    if _bert_vocab(model):
        assert states[0].shape[0] == 5  # [CLS] i hate cancer [SEP]
        assert states[2].shape[0] == 2  # "": [CLS] [SEP]
    assert states[0].shape[0] > states[2].shape[0] >= 1
    assert all(s.shape[1] == model.dim for s in states)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_precision_quantizes_as_sentence_transformers(
    model: EmbeddingModel, precision: str
) -> None:
    raw = model.encode(TEXTS)
    got = model.encode(TEXTS, precision=precision)
    assert np.array_equal(got, quantize_embeddings(raw, precision))
    st = pytest.importorskip("sentence_transformers")
    assert np.array_equal(got, st.quantize_embeddings(raw, precision))


def test_bad_arguments_are_typed(model: EmbeddingModel) -> None:
    with pytest.raises(OptionError, match="'float32', 'int8', 'uint8', 'binary', 'ubinary'"):
        model.encode(TEXTS, precision="float16")
    with pytest.raises(ValueError, match="output_value"):
        model.encode(TEXTS, output_value=None)
    with pytest.raises(TypeError, match=r"sentences\[1\] is int"):
        model.encode(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(OptionError, match="int8"):
        model.encode("one text", precision="int8")  # one embedding has no range
    with pytest.raises(OptionError, match="prompts"):
        model.encode(TEXTS, prompt="query: ")
    with pytest.raises(TypeError):
        model.encode(TEXTS, not_an_option=1)  # type: ignore[call-arg]


def test_encode_stream_is_lazy_and_equals_encode(model: EmbeddingModel) -> None:
    pulled: list[int] = []

    def texts() -> Iterator[str]:
        for i in range(11):
            pulled.append(i)
            yield TEXTS[i % len(TEXTS)]

    stream = model.encode_stream(texts(), chunk_size=4, batch_size=2)
    first = next(stream)
    assert first.shape == (4, model.sentence_dim)
    assert len(pulled) == 4  # only one chunk read so far: bounded memory
    rest = list(stream)
    assert [len(a) for a in rest] == [4, 3]
    expected = model.encode([TEXTS[i % len(TEXTS)] for i in range(11)])
    assert np.allclose(np.concatenate([first, *rest]), expected, atol=1e-5)
    with pytest.raises(TypeError, match="single str"):
        next(model.encode_stream("not a list"))  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="ranges"):
        next(model.encode_stream(TEXTS, precision="int8"))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_when_asked_or_on_a_terminal(
    model: EmbeddingModel, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # (a CLI test earlier in the session may leave a log handler on stderr: look for the bar)
    many = TEXTS * 8  # 40 texts: 20 batches of 2
    model.encode(many, batch_size=2)
    assert "Encoding" not in capsys.readouterr().err  # not a terminal: no bar
    model.encode(many, batch_size=2, show_progress_bar=True)
    err = capsys.readouterr().err
    assert "Encoding: 100%" in err and "40/40" in err
    fake: Any = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    model.encode(many, batch_size=2)
    assert "40/40" in fake.getvalue()
    fake.seek(0)
    fake.truncate(0)
    model.encode(TEXTS[:3], batch_size=2)  # two batches: too few for a bar
    assert "Encoding" not in fake.getvalue()
