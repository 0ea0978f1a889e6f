"""Spark NLP BERT zips without a JVM: readers for Spark's object files (Hadoop
SequenceFile + Java serialization), TensorFlow checkpoints without TensorFlow, the ONNX
engine, the ``sparknlp_bert`` loader plugin and conversion to Hugging Face format.

Importing this package (or :mod:`.loader`) does not import torch."""

from __future__ import annotations

from typing import Any

__all__ = ["SparkNlpBertLoader", "convert"]


def __getattr__(name: str) -> Any:
    if name == "SparkNlpBertLoader":
        from modelhub.loaders.sparknlp.loader import SparkNlpBertLoader

        return SparkNlpBertLoader
    if name == "convert":
        from modelhub.loaders.sparknlp.conversion import convert

        return convert
    raise AttributeError(f"module 'modelhub.loaders.sparknlp' has no attribute {name!r}")
