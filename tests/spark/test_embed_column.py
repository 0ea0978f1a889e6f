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


def test_token_embeddings_equal_single_process(spark, tiny_bert: str) -> None:
    df = _frame(spark, TEXTS, 5)
    out = embed_column(df, "text", "tok", model=tiny_bert, kind="tokens", dtype="float32")
    assert out.schema["tok"].dataType.simpleString() == (
        "array<struct<token:string,begin:int,end:int,vector:array<float>>>"
    )
    got = _collect(out, "tok")
    single = modelhub.pretrained(tiny_bert, "en", dtype="float32", offline=True)
    for text, tokens in zip(TEXTS, got, strict=True):
        if text is None:
            assert tokens is None
            continue
        (ref,) = single.embed([text])
        assert [t["token"] for t in tokens] == ref.tokens
        assert [(t["begin"], t["end"]) for t in tokens] == ref.offsets
        if text == "":
            assert tokens == []
            continue
        vectors = np.asarray([t["vector"] for t in tokens], dtype=np.float32)
        assert np.abs(vectors - ref.vectors).max() <= 1e-5
    # The long text was truncated to the model's 64 positions, not dropped.
    assert 0 < len(got[TEXTS.index(LONG)]) < len(LONG.split())


def test_the_model_is_loaded_once_per_python_worker(spark, tiny_bert: str, spark_dirs) -> None:
    # max_length=48 gives a model identity no other test uses, so every load
    # of it in the load log belongs to this test.
    texts = [f"the patient {i} has a heart attack" for i in range(400)]
    df = _frame(spark, texts, 8)  # 8 tasks of 50 rows = 4 Arrow batches each
    out = embed_column(df, "text", "vec", model=tiny_bert, dtype="float32", max_length=48)
    assert out.count() == 400 and out.filter("vec is null").count() == 0
    out.select("vec").collect()  # a second job: new tasks, the same workers

    loads = [r for r in load_log(spark_dirs["loads"]) if "'max_length', 48" in r["options"]]
    pids = [r["pid"] for r in loads]
    # 16 tasks and 32+ batches across two jobs, local[2]: at most one load per
    # worker process, and no process loaded it twice.
    assert 1 <= len(loads) <= 2, loads
    assert len(set(pids)) == len(pids)


def test_offline_executors_with_the_network_blocked_use_the_shipped_entry(
    spark, sparknlp_bert: str, spark_dirs, tmp_path, s3
) -> None:
    cache = tmp_path / "offline-executor-cache"
    net_log = tmp_path / "net.log"
    guarded = {
        "MODELHUB_CACHE": str(cache),
        "MODELHUB_OFFLINE": "1",
        "PYTHONPATH": str(spark_dirs["guard"]),
        "MODELHUB_TEST_NET_LOG": str(net_log),
    }
    df = _frame(spark, TEXTS, 4)
    with worker_env(spark, **guarded):
        # The guard is live in these workers: a connection to the S3 server fails.
        probe = spark.range(1).mapInArrow(_probe(s3.endpoint), "error string").collect()
        assert "blocked by the modelhub test guard" in probe[0]["error"]
        net_log.unlink()

        out = embed_column(df, "text", "vec", model=sparknlp_bert, dtype="float32")
        got = _collect(out, "vec")
        tok = _collect(
            embed_column(df, "text", "tok", model=sparknlp_bert, kind="tokens", dtype="float32"),
            "tok",
        )
    assert not net_log.exists(), net_log.read_text()

    single = modelhub.pretrained(sparknlp_bert, "en", dtype="float32", offline=True)
    present = [t for t in TEXTS if t is not None]
    expected = iter(single.embed_sentences(present))
    expected_tokens = iter(single.embed(present))
    for text, vec, tokens in zip(TEXTS, got, tok, strict=True):
        if text is None:
            assert vec is None and tokens is None
            continue
        assert np.abs(np.asarray(vec, dtype=np.float32) - next(expected)).max() <= 1e-5
        ref = next(expected_tokens)
        assert [t["token"] for t in tokens] == ref.tokens
        if ref.tokens:
            vectors = np.asarray([t["vector"] for t in tokens], dtype=np.float32)
            assert np.abs(vectors - ref.vectors).max() <= 1e-5

    # The executors installed the entry into their own cache, verified.
    loads = [r for r in load_log(spark_dirs["loads"]) if r["path"].startswith(str(cache))]
    assert loads and any(r["installed"] for r in loads)
    from modelhub.registry.store.store import Store

    (entry,) = list(Store(cache).entries())
    assert entry.verify() == []
    assert entry.key.endswith("bert_tiny_sparknlp_en_3.4.0_3.0_1645440129466.zip")


def _probe(endpoint: str) -> Any:
    def probe(batches: Any) -> Any:
        import socket
        from urllib.parse import urlparse

        import pyarrow as pa

        for _ in batches:
            pass
        u = urlparse(endpoint)
        try:
            socket.create_connection((u.hostname, u.port), timeout=5).close()
            error = ""
        except OSError as exc:
            error = str(exc)
        yield pa.RecordBatch.from_pydict({"error": [error]})

    return probe


def test_a_shared_cache_needs_no_shipment(spark, tiny_bert: str, spark_dirs) -> None:
    import os

    driver_cache = os.environ["MODELHUB_CACHE"]
    df = _frame(spark, TEXTS[:4], 2)
    single = modelhub.pretrained(tiny_bert, "en", dtype="float32")  # the driver pulls first
    with worker_env(spark, MODELHUB_CACHE=driver_cache, MODELHUB_OFFLINE="1"):
        out = embed_column(
            df, "text", "vec", model=tiny_bert, dtype="float32", ship=False, normalize=True
        )
        got = _collect(out, "vec")
    expected = single.embed_sentences([t for t in TEXTS[:4] if t is not None], normalize=True)
    present = [np.asarray(v, dtype=np.float32) for v in got if v is not None]
    assert np.abs(np.stack(present) - expected).max() <= 1e-5
    loads = [r for r in load_log(spark_dirs["loads"]) if r["path"].startswith(driver_cache)]
    assert loads and not any(r["installed"] for r in loads)


def test_bad_arguments_fail_on_the_driver(spark) -> None:
    df = spark.createDataFrame([(1, "a")], "id long, text string")
    with pytest.raises(TypeError, match="'id' is bigint, not string"):
        embed_column(df, "id", "vec", model="anything")
    with pytest.raises(ValueError, match="already exists"):
        embed_column(df, "text", "id", model="anything")
    with pytest.raises(ValueError, match="no column 'body'"):
        embed_column(df, "body", "vec", model="anything")
    with pytest.raises(ValueError, match="kind='words'"):
        embed_column(df, "text", "vec", model="anything", kind="words")
