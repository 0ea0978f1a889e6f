"""The built-in loader for BERT-family encoders in Hugging Face format.

Registered as the ``bert`` entry point of ``modelhub.loaders``. This module
only inspects files; torch and transformers are imported by :meth:`load`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from modelhub.cards.record import ModelCard
from modelhub.loaders.base import Loader
from modelhub.loaders.hf import inspect_dir


class BertLoader(Loader):
    name: ClassVar[str] = "bert"
    priority: ClassVar[int] = 100
    derives: ClassVar[bool] = True  # the ONNX export (modelhub.loaders.engines.onnx_engine)
    formats: ClassVar[tuple[str, ...]] = ("hf-transformers",)
    engines: ClassVar[tuple[str, ...]] = ("pytorch", "safetensors", "transformers")
    annotators: ClassVar[tuple[str, ...]] = (
        "BertEmbeddings",
        "BertSentenceEmbeddings",
        "RoBertaEmbeddings",
        "RoBertaSentenceEmbeddings",
        "XlmRoBertaEmbeddings",
        "XlmRoBertaSentenceEmbeddings",
        "CamemBertEmbeddings",
        "DistilBertEmbeddings",
        "DeBertaEmbeddings",
        "AlbertEmbeddings",
        "XlnetEmbeddings",
        "LongformerEmbeddings",
        "E5Embeddings",
        "BGEEmbeddings",
        "MPNetEmbeddings",
        "MxbaiEmbeddings",
        "UAEEmbeddings",
        "MiniLMEmbeddings",
        "SentenceEmbeddings",
    )
    summary: ClassVar[str] = (
        "Hugging Face transformers directory (config.json + safetensors, or a pickle loaded "
        "with weights_only) of an encoder family transformers provides (BERT, RoBERTa, "
        "XLM-R, DeBERTa, ALBERT, XLNet, T5 encoder...); runs with torch or ONNX Runtime"
    )

    def accepts(self, path: Path, record: ModelCard | None) -> str | None:
        found = inspect_dir(Path(path))
        return found if isinstance(found, str) else None

    def load(self, path: Path, record: ModelCard | None, **options: Any) -> Any:
        from modelhub.loaders.bert_model import BertEmbeddingsModel

        return BertEmbeddingsModel.from_directory(Path(path), record, **options)
