"""A tiny sentence-transformers model directory (written as the Hub publishes
them: modules.json, a Pooling config), the real all-MiniLM-L6-v2, and a model
wrapper that records how an adapter calls ``encode()``."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import skip_or_fail
from tests.loaders.conftest import _save_tiny, minilm_dir

__all__ = ["Recorder", "minilm_dir", "tiny_st"]

DOCS = [
    "Aspirin lowers the risk of myocardial infarction.",
    "The tax return is due in April.",
    "I hate cancer.",
    "An apple a day.",
]
QUERY = "heart attack"


def _sentence_transformers_dir(base: Path, target: Path) -> Path:
    shutil.copytree(base, target)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (target / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (target / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": False}), encoding="utf-8"
    )
    (target / "1_Pooling").mkdir()
    (target / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": 32,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            }
        ),
        encoding="utf-8",
    )
    return target


@pytest.fixture(scope="session")
def tiny_bert_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_st(tiny_bert_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32-dim sentence-transformers directory: mean pooling, no Normalize, no prompts."""
    return _sentence_transformers_dir(tiny_bert_base, tmp_path_factory.mktemp("st") / "tiny-st")


@pytest.fixture(scope="session")
def tiny_reference(tiny_st: Path) -> Any:
    """sentence-transformers' own model of ``tiny_st``."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_st), device="cpu")


@pytest.fixture(scope="session")
def tiny_model(tiny_st: Path) -> Any:
    import modelhub

    return modelhub.pretrained(tiny_st)


class Recorder:
    """A loaded model that records each ``encode()`` call (its thread, texts
    and keywords) and passes it on to the real one; ``prompts`` as a
    sentence-transformers model has them, when given."""

    def __init__(self, model: Any, prompts: dict[str, str] | None = None) -> None:
        self.model = model
        self.calls: list[tuple[int, list[str], dict[str, Any]]] = []
        if prompts is not None:
            self.prompts = prompts

    def texts(self) -> list[list[str]]:
        return [texts for _, texts, _ in self.calls]

    def encode(self, sentences: Any, **kwargs: Any) -> np.ndarray:
        self.calls.append((threading.get_ident(), list(sentences), dict(kwargs)))
        return self.model.encode(sentences, **kwargs)  # type: ignore[no-any-return]


@pytest.fixture
def recorder(tiny_model: Any) -> Iterator[Recorder]:
    yield Recorder(tiny_model)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to look up a host or open a connection (a framework fetching
    NLTK or tiktoken data, an LLM client) fails the test. llama-index-core reads
    the NLTK and tiktoken files bundled in its wheel unless these variables send
    it elsewhere (then it downloads them)."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args[1:] or args!r}")

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def require(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        skip_or_fail(f"{module} is not installed (pip install 'modelhub[{extra}]')")
