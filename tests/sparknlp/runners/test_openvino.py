"""The OpenVINO runner of Spark NLP ``*_openvino`` engine files: engines written by
OpenVINO's own converter (``tests/fixtures/sparknlp/ov_writer.py``) from tiny random
transformers models give the same hidden states as transformers on the same weights."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelhub.errors import ArtifactFormatError, EngineUnavailable, UnsafeArchiveError
from modelhub.loaders.sparknlp.families import family_for
from tests.conftest import skip_or_fail

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sparknlp"

pytestmark = pytest.mark.slow

if importlib.util.find_spec("openvino") is None or importlib.util.find_spec("torch") is None:
    skip_or_fail("the openvino and torch extras are not installed")

sys.path.insert(0, str(FIXTURES))
import ov_writer  # noqa: E402  (a fixture script, not a package)

from modelhub.loaders.sparknlp.runners.openvino import open_openvino  # noqa: E402

VOCAB = 120


def _config(kind: str) -> Any:
    import transformers as T

    base = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    roberta_like = {**base, "max_position_embeddings": 70, "pad_token_id": 1}
    return {
        "bert": lambda: T.BertConfig(**base),
        # E5 and MiniLM are BertModel graphs with their own shapes.
        "e5": lambda: T.BertConfig(**{**base, "num_attention_heads": 4}),
        "minilm": lambda: T.BertConfig(
            **{**base, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 64}
        ),
        "distilbert": lambda: T.DistilBertConfig(
            vocab_size=VOCAB,
            dim=32,
            n_layers=2,
            n_heads=2,
            hidden_dim=37,
            max_position_embeddings=64,
        ),
        "roberta": lambda: T.RobertaConfig(**roberta_like),
        "xlm-roberta": lambda: T.XLMRobertaConfig(**roberta_like),
        "camembert": lambda: T.CamembertConfig(**roberta_like),
        "mpnet": lambda: T.MPNetConfig(**roberta_like),
        "albert": lambda: T.AlbertConfig(**base, embedding_size=16),
        "deberta": lambda: T.DebertaV2Config(**base, type_vocab_size=0),
    }[kind]()


# family -> (annotator, member stem): the three names Spark NLP versions gave the IR pair.
FAMILIES = {
    "bert": ("BertEmbeddings", "saved_model"),
    "e5": ("E5Embeddings", "openvino_model"),
    "minilm": ("MiniLMEmbeddings", "minilm_openvino"),
    "mpnet": ("MPNetEmbeddings", "openvino_model"),
    "xlm-roberta": ("XlmRoBertaEmbeddings", "xlmroberta_openvino"),
    "distilbert": ("DistilBertEmbeddings", "openvino_model"),
    "roberta": ("RoBertaEmbeddings", "roberta_openvino"),
    "camembert": ("CamemBertEmbeddings", "openvino_model"),
    "albert": ("AlbertEmbeddings", "saved_model"),
    "deberta": ("DeBertaEmbeddings", "openvino_model"),
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """family -> (the transformers model, its ``*_openvino`` engine file), built lazily."""
    base = tmp_path_factory.mktemp("ov")
    built: dict[str, tuple[Any, Path]] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, family: str) -> tuple[Any, Path]:
            import torch
            from transformers import AutoModel

            torch.manual_seed(18)
            model = AutoModel.from_config(_config(family), attn_implementation="eager").eval()
            prefix = family_for(FAMILIES[family][0]).prefix  # type: ignore[union-attr]
            out = base / family / f"{prefix}_openvino"
            ov_writer.write_engine(model, out, stem=FAMILIES[family][1])
            self[family] = (model, out)
            return self[family]

    return Lazy(built)


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    ids = rng.integers(3, VOCAB, (3, 11)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 2:] = 0  # one real token besides the padding
    ids[mask == 0] = 1
    return ids, mask


def _reference(model: Any, ids: np.ndarray, mask: np.ndarray) -> Any:
    import torch

    with torch.inference_mode():
        return model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_hidden_states_equal_transformers(family: str, engines: dict) -> None:
    model, engine_file = engines[family]
    runner = open_openvino(engine_file, family_for(FAMILIES[family][0]))
    ids, mask = _batch()
    got = runner(ids, mask)
    ref = _reference(model, ids, mask)
    keep = mask.astype(bool)
    assert runner.engine == "openvino"
    assert runner.hidden_size == 32
    assert got["last_hidden_state"].dtype == np.float32
    assert got["last_hidden_state"].shape == (3, 11, 32)
    diff = np.abs(got["last_hidden_state"][keep] - ref.last_hidden_state.numpy()[keep]).max()
    assert diff <= 1e-4, f"{family}: max abs {diff}"
    if getattr(ref, "pooler_output", None) is not None:
        assert "pooler_output" in runner.outputs
        pooled = np.abs(got["pooler_output"] - ref.pooler_output.numpy()).max()
        assert pooled <= 1e-4, f"{family} pooler: max abs {pooled}"


def test_feeds_only_the_inputs_the_graph_declares(engines: dict) -> None:
    """DistilBERT/RoBERTa graphs take no token_type_ids; BERT's get zeros when none given."""
    _, distil = engines["distilbert"]
    _, bert = engines["bert"]
    assert open_openvino(distil).inputs == ("input_ids", "attention_mask")
    runner = open_openvino(bert)
    assert runner.inputs == ("input_ids", "attention_mask", "token_type_ids")
    ids, mask = _batch()
    implicit = runner(ids, mask)["last_hidden_state"]
    explicit = runner(ids, mask, np.zeros_like(ids))["last_hidden_state"]
    other = runner(ids, mask, np.ones_like(ids))["last_hidden_state"]
    assert np.array_equal(implicit, explicit)
    assert not np.allclose(implicit, other)  # the segment input really reaches the graph


def test_results_are_not_overwritten_by_the_next_call(engines: dict) -> None:
    _, bert = engines["bert"]
    runner = open_openvino(bert)
    ids, mask = _batch()
    first = runner(ids, mask)["last_hidden_state"]
    kept = first.copy()
    runner(ids[:, ::-1].copy(), mask)
    assert np.array_equal(first, kept)


def test_float32_by_default_on_any_cpu(engines: dict) -> None:
    """OpenVINO would pick bf16 on a CPU with native bf16; the runner asks for f32."""
    _, bert = engines["bert"]
    runner = open_openvino(bert)
    assert str(runner._compiled.get_property("INFERENCE_PRECISION_HINT")) in (
        "<Type: 'float32'>",
        "f32",
    )
    with pytest.raises(ValueError, match="precision"):
        open_openvino(bert, precision="fp8")


def test_threads_setting_reaches_openvino(engines: dict) -> None:
    _, bert = engines["bert"]
    runner = open_openvino(bert, threads=1)
    assert int(runner._compiled.get_property("INFERENCE_NUM_THREADS")) == 1


def _rezip(
    source: Path, out: Path, renames: dict[str, str | None], extra: dict[str, bytes] | None = None
) -> Path:
    """A copy of an engine zip with members renamed (None: dropped) and ``extra`` added."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            name = renames.get(info.filename, info.filename)
            if name is not None:
                zout.writestr(name, zin.read(info))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return out


@pytest.mark.parametrize(
    "stem", ["saved_model", "xlmroberta_openvino", "openvino_model", "nested/dir/saved_model"]
)
def test_every_member_name_generation_loads(stem: str, engines: dict, tmp_path: Path) -> None:
    model, bert = engines["bert"]  # written with saved_model.*
    engine = _rezip(
        bert,
        tmp_path / "bert_openvino",
        {"saved_model.xml": f"{stem}.xml", "saved_model.bin": f"{stem}.bin"},
    )
    ids, mask = _batch()
    got = open_openvino(engine)(ids, mask)["last_hidden_state"]
    ref = _reference(model, ids, mask).last_hidden_state.numpy()
    keep = mask.astype(bool)
    assert np.abs(got[keep] - ref[keep]).max() <= 1e-4


def test_no_xml_is_a_typed_error(engines: dict, tmp_path: Path) -> None:
    _, bert = engines["bert"]
    engine = _rezip(bert, tmp_path / "bert_openvino", {"saved_model.xml": None})
    with pytest.raises(
        ArtifactFormatError, match=r"bert_openvino: no OpenVINO IR inside.*saved_model\.bin"
    ):
        open_openvino(engine)


def test_two_xml_is_a_typed_error(engines: dict, tmp_path: Path) -> None:
    _, bert = engines["bert"]
    with zipfile.ZipFile(bert) as zf:
        xml, weights = zf.read("saved_model.xml"), zf.read("saved_model.bin")
    engine = _rezip(
        bert,
        tmp_path / "bert_openvino",
        {},
        {"openvino_model.xml": xml, "openvino_model.bin": weights},
    )
    with pytest.raises(ArtifactFormatError, match=r"2 OpenVINO graphs inside.*openvino_model\.xml"):
        open_openvino(engine)


@pytest.mark.parametrize("bin_name", [None, "other.bin", "sub/saved_model.bin"])
def test_missing_bin_is_a_typed_error(bin_name: str | None, engines: dict, tmp_path: Path) -> None:
    _, bert = engines["bert"]
    engine = _rezip(bert, tmp_path / "bert_openvino", {"saved_model.bin": bin_name})
    with pytest.raises(
        ArtifactFormatError, match=r"saved_model\.xml has no weights file saved_model\.bin"
    ):
        open_openvino(engine)


def test_damaged_graph_is_a_typed_error(engines: dict, tmp_path: Path) -> None:
    _, bert = engines["bert"]
    engine = _rezip(bert, tmp_path / "bert_openvino", {}, {})
    with zipfile.ZipFile(bert) as zf:
        weights = zf.read("saved_model.bin")
    with zipfile.ZipFile(engine, "w") as zout:
        zout.writestr("saved_model.xml", b"<net name='x'><layers><layer")
        zout.writestr("saved_model.bin", weights)
    with pytest.raises(ArtifactFormatError, match="OpenVINO cannot read this BertEmbeddings graph"):
        open_openvino(engine, family_for("BertEmbeddings"))


def test_unsafe_engine_zip_is_refused_before_reading(engines: dict, tmp_path: Path) -> None:
    _, bert = engines["bert"]
    engine = _rezip(bert, tmp_path / "bert_openvino", {"saved_model.bin": "../saved_model.bin"})
    with pytest.raises(UnsafeArchiveError, match=r"'\.\.' component"):
        open_openvino(engine)


def test_not_a_zip_is_a_typed_error(tmp_path: Path) -> None:
    engine = tmp_path / "bert_openvino"
    engine.write_bytes(b"<?xml version='1.0'?><net/>")
    with pytest.raises(Exception, match="bert_openvino: not a readable zip") as info:
        open_openvino(engine)
    from modelhub.errors import ModelhubError

    assert isinstance(info.value, ModelhubError)


def test_openvino_not_installed_names_the_extra(
    engines: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bert = engines["bert"]
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    with pytest.raises(EngineUnavailable, match=r"pip install 'modelhub\[openvino\]'"):
        open_openvino(bert)


def test_threads_may_share_one_runner(engines: dict) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _, bert = engines["bert"]
    runner = open_openvino(bert)
    ids, mask = _batch()
    want = runner(ids, mask)["last_hidden_state"]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: runner(ids, mask)["last_hidden_state"], range(16)))
    assert all(np.array_equal(g, want) for g in got)
