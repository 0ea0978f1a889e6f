"""``embed_column`` in local[2]: results equal single-process ``embed_sentences``
/ ``embed``; nulls, empty strings, empty partitions and long texts; one model
load per Python worker; offline executors with the network blocked get the
driver's shipped entry; a shared cache; both loaders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import modelhub
from modelhub.spark import embed_column

from .conftest import load_log, worker_env

pytestmark = pytest.mark.slow

LONG = " ".join(["aspirin lowers the risk of myocardial infarction"] * 60)
TEXTS: list[str | None] = [
    "I hate cancer",
    None,
    "",
    "Aspirin lowers the risk of myocardial infarction.",
    LONG,
    "the heart attack",
    None,
    "un believ able tax return!",
]


def _frame(spark: Any, texts: list[str | None], partitions: int) -> Any:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType(
        [StructField("id", LongType(), False), StructField("text", StringType(), True)]
    )
    rows = spark.sparkContext.parallelize(list(enumerate(texts)), partitions)
    return spark.createDataFrame(rows, schema)


def _collect(df: Any, col: str) -> list[Any]:
    return [r[col] for r in sorted(df.collect(), key=lambda r: r["id"])]


def test_sentence_vectors_equal_single_process(spark, tiny_bert: str) -> None:
    # 12 partitions for 8 rows: some are empty.
    df = _frame(spark, TEXTS, 12)
    out = embed_column(df, "text", "vec", model=tiny_bert, dtype="float32", batch_size=3)
    assert out.schema["vec"].dataType.simpleString() == "array<float>"
    got = _collect(out, "vec")
    single = modelhub.pretrained(tiny_bert, "en", dtype="float32", offline=True)
    expected = single.embed_sentences([t for t in TEXTS if t is not None])
    k = 0
    for text, vec in zip(TEXTS, got, strict=True):
        if text is None:
            assert vec is None
            continue
        assert len(vec) == single.dim
        assert np.abs(np.asarray(vec, dtype=np.float32) - expected[k]).max() <= 1e-5
        k += 1
