"""The ``sparknlp_transformer`` loader plugin: every Spark NLP transformer-embeddings
annotator × engine of :mod:`modelhub.loaders.sparknlp.families` that the ``sparknlp_bert``
loader does not run (DistilBERT, RoBERTa, XLM-R, CamemBERT, DeBERTa, ALBERT, XLNet,
Longformer, the RoBERTa/XLM-R sentence annotators, E5, BGE, MPNet, MiniLM, Mxbai, UAE, Nomic,
Instructor, and BERT with OpenVINO), with the engines whose runner this install ships
(:func:`modelhub.loaders.sparknlp.runners.available_engines`). Only the metadata JSON is read
to decide; the engine packages load in :meth:`load`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from modelhub.cards.record import ModelCard
from modelhub.loaders.base import Loader
from modelhub.loaders.sparknlp.families import transformer_families
from modelhub.loaders.sparknlp.runners import available_engines
from modelhub.loaders.sparknlp.zipmodel import check_transformer, metadata_engine

#: What the ``sparknlp_bert`` loader runs (it wins for these, priority 90 > 80).
BERT_LOADER: dict[str, tuple[str, ...]] = {
    "BertEmbeddings": ("onnx", "tensorflow"),
    "BertSentenceEmbeddings": ("onnx", "tensorflow"),
}


def served_pairs(engines: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    """(annotator, engine) pairs this loader runs with the given (default: installed)
    runner engines."""
    engines = available_engines() if engines is None else engines
    return tuple(
        (f.annotator, e)
        for f in transformer_families()
        for e in f.engines
        if e in engines and e not in BERT_LOADER.get(f.annotator, ())
    )


_PAIRS = served_pairs()


class SparkNlpTransformerLoader(Loader):
    name: ClassVar[str] = "sparknlp_transformer"
    priority: ClassVar[int] = 80
    formats: ClassVar[tuple[str, ...]] = ("sparknlp-zip",)
    # the engine and tokenizer files, prepared once (modelhub.loaders.sparknlp.prepared)
    derives: ClassVar[bool] = True
    engines: ClassVar[tuple[str, ...]] = tuple(dict.fromkeys(e for _, e in _PAIRS))
    annotators: ClassVar[tuple[str, ...]] = tuple(dict.fromkeys(a for a, _ in _PAIRS))
    summary: ClassVar[str] = (
        "Spark NLP transformer-embeddings zip of any family (DistilBERT, RoBERTa, XLM-R, "
        "CamemBERT, DeBERTa, ALBERT, E5, BGE, MPNet, MiniLM, Mxbai, UAE, Nomic, Instructor, "
        "...): metadata/part-00000, the *_onnx / *_openvino / *_tensorflow engine and the "
        "zip's own tokenizer files; semantics='sparknlp' (default) or 'huggingface'; no JVM"
    )

    def served(self) -> tuple[tuple[str, str], ...]:
        return _PAIRS

    def accepts(self, path: Path, record: ModelCard | None) -> str | None:
        found = check_transformer(Path(path))
        if isinstance(found, str):
            return found
        _root, meta, row = found
        engine = metadata_engine(meta)
        if (row.annotator, engine) in _PAIRS:
            return None
        if engine in BERT_LOADER.get(row.annotator, ()):
            return f"{row.annotator} with {engine} is the sparknlp_bert loader's"
        if engine not in row.engines:
            return f"Spark NLP has no {engine} engine for {row.annotator}"
        return (
            f"{row.annotator} with {engine}: this install has no {engine} runner "
            f"(runners: {', '.join(available_engines()) or 'none'})"
        )

    def load(self, path: Path, record: ModelCard | None, **options: Any) -> Any:
        from modelhub.loaders.sparknlp.transformer.model import load

        return load(Path(path), record, **options)


__all__ = ["BERT_LOADER", "SparkNlpTransformerLoader", "served_pairs"]
