"""``embed_column``: a DataFrame column of texts to a column of embeddings.

The work runs in ``mapInArrow``: each task gets Arrow record batches of the
partition (``spark.sql.execution.arrow.maxRecordsPerBatch`` rows each), the
worker embeds the non-null texts of a batch in one call (the model buckets
them by length and runs ``batch_size`` texts per forward pass), and the
vectors go back as Arrow list arrays built from the numpy buffers, without
a Python object per value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.spark.spec import ModelSpec, prepare

KINDS = ("sentence", "tokens")
# Rows per model call: bounds a worker's memory for very large Arrow batches.
MAX_ROWS_PER_CALL = 4096


def sentence_type() -> Any:
    from pyspark.sql.types import ArrayType, FloatType

    return ArrayType(FloatType(), containsNull=False)


def tokens_type() -> Any:
    from pyspark.sql.types import ArrayType, FloatType, IntegerType, StringType, StructField
    from pyspark.sql.types import StructType as ST

    token = ST(
        [
            StructField("token", StringType(), False),
            StructField("begin", IntegerType(), False),
            StructField("end", IntegerType(), False),
            StructField("vector", ArrayType(FloatType(), containsNull=False), False),
        ]
    )
    return ArrayType(token, containsNull=False)


def embed_column(
    df: Any,
    input_col: str,
    output_col: str,
    model: str | Path,
    lang: str = "en",
    kind: str = "sentence",
    batch_size: int = 32,
    *,
    version: str | None = None,
    device: Any = "auto",
    dtype: Any = "auto",
    loader: str | None = None,
    pooling: str | None = None,
    offline: bool | None = None,
    ship: bool = True,
    **options: Any,
) -> Any:
    """``df`` with ``output_col`` added: the embeddings of the strings in
    ``input_col`` by the catalog model ``model`` (``lang``, ``version``), as
    ``modelhub.pretrained`` would load it.

    ``kind="sentence"``: ``array<float>``, one vector per text
    (``embed_sentences``; ``pooling`` "mean" or "cls").  ``kind="tokens"``:
    ``array<struct<token, begin, end, vector>>`` (``embed``; ``begin``/``end``
    are ``[begin, end)`` offsets in code points; ``pooling`` "first" or
    "mean").  Null texts give null; an empty string gives the vector of an
    empty text, or no tokens.

    The driver resolves and pulls the model once (verified) and, with
    ``ship=True``, sends the verified cache entry to the executors, which
    install it into their own cache (``MODELHUB_CACHE`` on the executors)
    after checking every file against the driver's manifest, so executors
    need no network.  ``ship=False``: executors use their cache as it is
    (a shared cache path, or their own pulls).  ``batch_size`` is texts per
    forward pass; ``options`` go to the loader (``max_length``,
    ``normalize``, ``overflow``, ``num_threads`` — default: the task's CPUs).
    """
    from pyspark.sql.types import StringType, StructField, StructType

    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: use 'sentence' or 'tokens'")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    allowed = ("mean", "cls") if kind == "sentence" else ("first", "mean")
    if pooling is not None and pooling not in allowed:
        raise ValueError(f"pooling={pooling!r} for kind={kind!r}: use one of {allowed}")
    fields = {f.name: f for f in df.schema.fields}
    if input_col not in fields:
        raise ValueError(f"no column {input_col!r} in the DataFrame (columns: {list(fields)})")
    if not isinstance(fields[input_col].dataType, StringType):
        raise TypeError(
            f"column {input_col!r} is {fields[input_col].dataType.simpleString()}, not string"
        )
    if output_col in fields:
        raise ValueError(f"column {output_col!r} already exists; choose another output_col")

    spec = prepare(
        df.sparkSession.sparkContext,
        model,
        lang,
        version=version,
        loader=loader,
        offline=offline,
        ship=ship,
        options={"device": device, "dtype": dtype, **options},
    )
    out_type = sentence_type() if kind == "sentence" else tokens_type()
    schema = StructType([*df.schema.fields, StructField(output_col, out_type, True)])
    call: dict[str, Any] = {"batch_size": batch_size}
    if pooling is not None:
        call["pooling"] = pooling
    fn = _batch_function(spec, input_col, kind, call, schema)
    return df.mapInArrow(fn, schema)


def _batch_function(
    spec: ModelSpec, input_col: str, kind: str, call: dict[str, Any], schema: Any
) -> Any:
    """The function each task runs: only picklable values are closed over."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa  # type: ignore[import-untyped]
        from pyspark.sql.pandas.types import to_arrow_schema

        from modelhub.spark.worker import model_for

        arrow_schema = to_arrow_schema(schema)
        out_type = arrow_schema.field(len(arrow_schema) - 1).type
        for batch in batches:
            texts = batch.column(batch.schema.get_field_index(input_col)).to_pylist()
            if not texts:
                column = pa.array([], type=out_type)
            else:
                column = embed_texts(lambda: model_for(spec), texts, kind, call, out_type)
            yield pa.RecordBatch.from_arrays([*batch.columns, column], schema=arrow_schema)

    return run


def embed_texts(
    get_model: Any, texts: list[str | None], kind: str, call: dict[str, Any], out_type: Any
) -> Any:
    """The Arrow column for ``texts`` (None stays null); ``get_model()`` is
    called only when there is a text to embed."""
    import pyarrow as pa  # type: ignore[import-untyped]

    valid = [i for i, t in enumerate(texts) if t is not None]
    present = [texts[i] for i in valid]
    if kind == "sentence":
        if present:
            m = get_model()
            parts = [
                m.embed_sentences(present[s : s + MAX_ROWS_PER_CALL], **call)
                for s in range(0, len(present), MAX_ROWS_PER_CALL)
            ]
            vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        else:
            vectors = np.zeros((0, 0), dtype=np.float32)
        dim = vectors.shape[1] if len(vectors) else 0
        lengths = np.zeros(len(texts), dtype=np.int32)
        lengths[valid] = dim
        return _lists(lengths, pa.array(vectors.reshape(-1), type=pa.float32()), texts, out_type)

    embs: list[Any] = []
    if present:
        m = get_model()
        for s in range(0, len(present), MAX_ROWS_PER_CALL):
            embs.extend(m.embed(present[s : s + MAX_ROWS_PER_CALL], **call))
    counts = np.zeros(len(texts), dtype=np.int32)
    counts[valid] = [len(e) for e in embs]
    tokens = [t for e in embs for t in e.tokens]
    offsets = np.array([o for e in embs for o in e.offsets], dtype=np.int32).reshape(-1, 2)
    mats = [e.vectors for e in embs if len(e)]
    flat = np.ascontiguousarray(np.concatenate(mats), dtype=np.float32) if mats else None
    n = len(tokens)
    dim = flat.shape[1] if flat is not None else 0
    struct_type = out_type.value_type
    vector_type = struct_type.field("vector").type
    vec_offsets = pa.array(np.arange(n + 1, dtype=np.int32) * dim, type=pa.int32())
    values = pa.array(flat.reshape(-1) if flat is not None else [], type=pa.float32())
    vectors = pa.ListArray.from_arrays(vec_offsets, values, type=vector_type)
    structs = pa.StructArray.from_arrays(
        [
            pa.array(tokens, type=pa.string()),
            pa.array(offsets[:, 0], type=pa.int32()),
            pa.array(offsets[:, 1], type=pa.int32()),
            vectors,
        ],
        fields=list(struct_type),
    )
    return _lists(counts, structs, texts, out_type)


def _lists(lengths: np.ndarray, values: Any, texts: list[str | None], out_type: Any) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    mask = pa.array([t is None for t in texts], type=pa.bool_())
    return pa.ListArray.from_arrays(
        pa.array(offsets, type=pa.int32()), values, type=out_type, mask=mask
    )
