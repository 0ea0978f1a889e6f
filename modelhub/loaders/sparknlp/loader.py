"""The ``sparknlp_bert`` loader plugin: Spark NLP ``BertEmbeddings`` /
``BertSentenceEmbeddings`` zips (unpacked), ONNX and TensorFlow engines, no JVM.
Only the metadata JSON is read to decide; torch and onnxruntime load in :meth:`load`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from modelhub.cards.record import ModelCard
from modelhub.loaders.base import Loader
from modelhub.loaders.sparknlp.artifact import check_annotator


class SparkNlpBertLoader(Loader):
    name: ClassVar[str] = "sparknlp_bert"
    priority: ClassVar[int] = 90
    formats: ClassVar[tuple[str, ...]] = ("sparknlp-zip",)
    # the engine and vocabulary, prepared once (modelhub.loaders.sparknlp.prepared)
    derives: ClassVar[bool] = True
    engines: ClassVar[tuple[str, ...]] = ("onnx", "tensorflow")
    annotators: ClassVar[tuple[str, ...]] = ("BertEmbeddings", "BertSentenceEmbeddings")
    summary: ClassVar[str] = (
        "Spark NLP BertEmbeddings/BertSentenceEmbeddings zip (metadata/part-00000, "
        "fields/vocabulary, bert_onnx or bert_tensorflow); ONNX via onnxruntime, "
        "TensorFlow weights mapped onto torch; no JVM"
    )

    def accepts(self, path: Path, record: ModelCard | None) -> str | None:
        found = check_annotator(Path(path))
        if isinstance(found, str):
            return found
        # Pre-5.0 zips name no engine: TensorFlow. Other engines go to other loaders
        # (sparknlp_transformer runs BERT's OpenVINO zips).
        engine = str(found[1].get("engine") or "tensorflow").lower()
        if engine not in self.engines:
            return f"engine {engine} is not one this loader runs ({', '.join(self.engines)})"
        return None

    def load(self, path: Path, record: ModelCard | None, **options: Any) -> Any:
        from modelhub.loaders.sparknlp.model import load

        return load(Path(path), record, **options)
