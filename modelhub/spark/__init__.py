"""Embeddings at scale on Apache Spark (extra ``modelhub[spark]``).

``embed_column(df, input_col, output_col, model=NAME, ...)`` adds a column of
sentence vectors or token embeddings computed by any catalog model, with
``mapInArrow`` on Arrow batches.  The driver resolves and pulls the model
once into its verified cache and ships that entry to the executors; each
Python worker loads the model once and reuses it for every later batch and
task.  pyspark is imported only when ``embed_column`` runs.
"""

from __future__ import annotations

from modelhub.spark.column import embed_column
from modelhub.spark.spec import ModelSpec

__all__ = ["ModelSpec", "embed_column"]
