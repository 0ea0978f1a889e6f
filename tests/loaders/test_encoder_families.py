"""Hugging Face directories of the encoder families transformers provides, loaded by the
``bert`` loader: tiny random models of each ``model_type`` saved with real tokenizer files
(a SentencePiece model trained by the ``sentencepiece`` trainer, a byte-level BPE from the
``tokenizers`` trainer, a WordPiece vocabulary); default ``encode()`` must equal
``SentenceTransformer(dir).encode()`` and token states must equal transformers' own."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelhub
from modelhub.loaders.hf import inspect_dir

st = pytest.importorskip("sentence_transformers")
transformers = pytest.importorskip("transformers")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sparknlp" / "tokenizers"
TEXTS = ["Hello world, this is a test.", "Café naïve résumé in Zürich", "a", ""]
SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}

# model_type -> (config class, model class, tokenizer class, tokenizer file kind, config kw)
CASES: dict[str, tuple[str, str, str, str, dict[str, Any]]] = {
    "roberta": ("RobertaConfig", "AutoModel", "RobertaTokenizerFast", "bpe", SMALL),
    "longformer": (
        "LongformerConfig",
        "AutoModel",
        "RobertaTokenizerFast",
        "bpe",
        {**SMALL, "attention_window": [4, 4]},
    ),
    "xlm-roberta": ("XLMRobertaConfig", "AutoModel", "XLMRobertaTokenizerFast", "spm", SMALL),
    "camembert": ("CamembertConfig", "AutoModel", "CamembertTokenizerFast", "spm", SMALL),
    "deberta-v2": ("DebertaV2Config", "AutoModel", "DebertaV2TokenizerFast", "spm", SMALL),
    "xlnet": (
        "XLNetConfig",
        "AutoModel",
        "XLNetTokenizerFast",
        "spm",
        {"d_model": 32, "n_layer": 2, "n_head": 4, "d_inner": 48},
    ),
    "t5": (
        "T5Config",
        "T5EncoderModel",
        "T5TokenizerFast",
        "spm",
        {"d_model": 32, "num_layers": 2, "num_heads": 4, "d_ff": 48, "d_kv": 8},
    ),
}
SPM_NAMES = {
    "XLMRobertaTokenizerFast": "sentencepiece.bpe.model",
    "CamembertTokenizerFast": "sentencepiece.bpe.model",
    "DebertaV2TokenizerFast": "spm.model",
    "XLNetTokenizerFast": "spiece.model",
    "T5TokenizerFast": "spiece.model",
}


def _tokenizer(kind: str, cls_name: str, folder: Path) -> Any:
    folder.mkdir(parents=True)
    if kind == "bpe":
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(FIXTURES / "bpe" / name, folder / name)
    else:
        shutil.copy(FIXTURES / "spm" / "xlmroberta_spp", folder / SPM_NAMES[cls_name])
    tok = getattr(transformers, cls_name).from_pretrained(str(folder))
    assert len(tok) > 100, f"{cls_name} did not read the fixture's vocabulary"
    return tok


def _save(model_type: str, base: Path) -> Path:
    import torch

    config_cls, model_cls, tok_cls, kind, kw = CASES[model_type]
    tok = _tokenizer(kind, tok_cls, base / f"{model_type}-tok")
    config = getattr(transformers, config_cls)(vocab_size=len(tok), **kw)
    if tok.pad_token_id is not None:
        config.pad_token_id = tok.pad_token_id
    torch.manual_seed(3)
    cls = getattr(transformers, model_cls)
    model = cls(config) if model_cls != "AutoModel" else cls.from_config(config)
    target = base / model_type
    model.eval().save_pretrained(target)
    tok.save_pretrained(target)
    return target


@pytest.fixture(scope="module", params=sorted(CASES))
def family_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(request.param, tmp_path_factory.mktemp("families"))


def test_the_bert_loader_accepts_the_directory(family_dir: Path) -> None:
    found = inspect_dir(family_dir)
    assert not isinstance(found, str), found


def test_encode_equals_sentence_transformers(family_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = st.SentenceTransformer(str(family_dir), device="cpu").encode(TEXTS)
    model = modelhub.pretrained(str(family_dir), engine="torch")
    got = model.encode(TEXTS)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5


def test_token_states_equal_transformers(family_dir: Path) -> None:
    import torch

    config = transformers.AutoConfig.from_pretrained(str(family_dir))
    cls = transformers.T5EncoderModel if config.model_type == "t5" else transformers.AutoModel
    reference = cls.from_pretrained(str(family_dir)).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(family_dir))
    model = modelhub.pretrained(str(family_dir), engine="torch")
    states = model.encode(TEXTS[:3], output_value="token_embeddings")
    for text, got in zip(TEXTS[:3], states, strict=True):
        batch = tok(text, return_tensors="pt")
        with torch.inference_mode():
            expected = reference(**batch).last_hidden_state[0].numpy()
        assert got.shape == expected.shape, text
        assert np.abs(got - expected).max() <= 1e-4, text
