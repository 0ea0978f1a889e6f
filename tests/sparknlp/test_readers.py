"""The readers against files written by the real producers (JVM, TensorFlow), and damaged
copies of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.javaser import read_tuple2_pairs
from modelhub.loaders.sparknlp.seqfile import iter_bytes_values, read_header
from modelhub.loaders.sparknlp.sparkml import read_metadata, read_vocabulary
from modelhub.loaders.sparknlp.tf_checkpoint import (
    Checkpoint,
    bert_state_dict,
    canonical_name,
    heads_from_graph,
    infer_bert_config,
)

from .conftest import REFERENCE, unpack

VOCAB_PART = Path("fields") / "vocabulary" / "part-00000"


def test_sequence_file_header_is_sparks_object_file(unpacked: dict[str, Path]) -> None:
    header = read_header(unpacked["onnx"] / VOCAB_PART)
    assert header.key_class == "org.apache.hadoop.io.NullWritable"
    assert header.value_class == "org.apache.hadoop.io.BytesWritable"
    assert (header.version, header.compressed, header.block_compressed) == (6, False, False)


def test_each_record_is_a_batch_of_at_most_ten_tuples(unpacked: dict[str, Path]) -> None:
    part = unpacked["onnx"] / VOCAB_PART
    batches = [read_tuple2_pairs(v, str(part)) for v in iter_bytes_values(part)]
    assert batches and all(1 <= len(b) <= 10 for b in batches)
    assert all(isinstance(w, str) and isinstance(i, int) for b in batches for w, i in b)


def test_vocabulary_is_rebuilt_in_id_order(
    unpacked: dict[str, Path], reference_vocab: list[str]
) -> None:
    # The JVM wrote the map in hash order over two part files; ids give the order back.
    assert read_vocabulary(unpacked["onnx"]) == reference_vocab


def test_metadata_params(unpacked: dict[str, Path]) -> None:
    meta = read_metadata(unpacked["tf1"])
    assert meta.class_name == "com.johnsnowlabs.nlp.embeddings.BertEmbeddings"
    assert meta.get("caseSensitive") is False and meta.get("maxSentenceLength") == 16
    assert meta.get("engine") is None  # Spark NLP 3.x style: no engine param


def test_truncated_sequence_file_names_the_file(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    part = root / VOCAB_PART
    data = part.read_bytes()
    part.write_bytes(data[: len(data) - 37])
    with pytest.raises(ArtifactFormatError, match=r"part-00000.*truncated"):
        read_vocabulary(root)


def test_not_a_sequence_file(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    (root / VOCAB_PART).write_bytes(b"PAR1 this is parquet, not an object file")
    with pytest.raises(ArtifactFormatError, match=r"part-00000: not a Hadoop SequenceFile"):
        read_vocabulary(root)


def test_unexpected_java_class_is_refused(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    part = root / VOCAB_PART
    data = part.read_bytes()
    # Same length, so the stream stays well-formed: only the class is wrong.
    assert b"java.lang.Integer" in data
    part.write_bytes(data.replace(b"java.lang.Integer", b"java.lang.Runtime", 1))
    with pytest.raises(
        ArtifactFormatError, match=r"part-00000.*unexpected Java class 'java.lang.Runtime'"
    ):
        read_vocabulary(root)


def test_truncated_java_stream(unpacked: dict[str, Path]) -> None:
    payload = next(iter_bytes_values(unpacked["onnx"] / VOCAB_PART))
    with pytest.raises(ArtifactFormatError, match="truncated"):
        read_tuple2_pairs(payload[:-9], "batch")
    with pytest.raises(ArtifactFormatError, match="magic"):
        read_tuple2_pairs(b"\x00" + payload[1:], "batch")


def test_missing_vocabulary(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    shutil.rmtree(root / "fields" / "vocabulary")
    with pytest.raises(ArtifactFormatError, match=r"fields/vocabulary.*missing vocabulary"):
        read_vocabulary(root)


def test_missing_part_leaves_a_gap_in_the_ids(writable) -> None:  # type: ignore[no-untyped-def]
    root = writable("onnx")
    (root / "fields" / "vocabulary" / "part-00001").unlink()
    with pytest.raises(ArtifactFormatError, match=r"vocabulary ids are not 0\.\."):
        read_vocabulary(root)


def test_not_a_spark_ml_folder(tmp_path: Path) -> None:
    with pytest.raises(ArtifactFormatError, match=r"metadata/part-00000 is missing"):
        read_metadata(tmp_path)


@pytest.mark.skipif(shutil.which("java") is None, reason="no Java: the JVM cross-check needs it")
@pytest.mark.slow
def test_the_jvm_reads_back_what_we_read(unpacked: dict[str, Path]) -> None:
    """Spark itself (objectFile) and our reader agree on the committed vocabulary."""
    script = (
        "import sys, json\n"
        "from pyspark.sql import SparkSession\n"
        "s = SparkSession.builder.master('local[1]').config('spark.ui.enabled','false')"
        ".getOrCreate()\n"
        "rdd = s.sparkContext._jsc.sc().objectFile(sys.argv[1], 1, "
        "getattr(s.sparkContext._jvm.scala.reflect, 'ClassTag$').__getattr__('MODULE$')"
        ".apply(s.sparkContext._jvm.java.lang.Class.forName('scala.Tuple2')))\n"
        "pairs = [(t._1(), t._2()) for t in rdd.collect()]\n"
        "print(json.dumps(sorted(pairs, key=lambda p: p[1])))\n"
        "s.stop()\n"
    )
    import json
    import sys

    folder = unpacked["onnx"] / "fields" / "vocabulary"
    run = subprocess.run(
        [sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=240
    )
    if run.returncode != 0:
        pytest.skip(f"Spark did not start here: {run.stderr[-300:]}")
    jvm = [w for w, _ in json.loads(run.stdout.strip().splitlines()[-1])]
    assert jvm == read_vocabulary(unpacked["onnx"])


# -- TensorFlow checkpoints ----------------------------------------------------------------


def _engine(root: Path, tmp_path: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(root / "bert_tensorflow") as zf:
        zf.extractall(tmp_path / "engine")
    return tmp_path / "engine"


@pytest.mark.parametrize("variant", ["tf1", "tf2"])
def test_checkpoint_weights_equal_the_reference(
    variant: str, unpacked: dict[str, Path], tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    engine = _engine(unpacked[variant], tmp_path)
    state = bert_state_dict(Checkpoint(engine / "variables" / "variables.index"))
    ref = load_file(str(REFERENCE / "model.safetensors"))
    assert set(state) == set(ref)
    for key, value in ref.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
    assert heads_from_graph(engine / "saved_model.pb") == 4
    config = infer_bert_config(state, 4, "x")
    assert (config["num_hidden_layers"], config["intermediate_size"], config["vocab_size"]) == (
        2,
        37,
        len(ref["embeddings.word_embeddings.weight"]),
    )


def test_tf2_checkpoint_has_object_graph_names(unpacked: dict[str, Path], tmp_path: Path) -> None:
    ckpt = Checkpoint(_engine(unpacked["tf2"], tmp_path) / "variables" / "variables.index")
    full = ckpt.full_names()
    key = next(k for k in full if "layer/1/attention/self_attention/query/kernel" in k)
    assert full[key] == "tf_bert_model/bert/encoder/layer_._1/attention/self/query/kernel"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        (
            "bert/encoder/layer_11/output/LayerNorm/gamma",
            "bert/encoder/layer_11/output/LayerNorm/gamma",
        ),
        (
            "tf_bert_model/bert/embeddings/word_embeddings/weight:0",
            "bert/embeddings/word_embeddings",
        ),
        (
            "model/bert/encoder/layer/3/bert_output/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE",
            "bert/encoder/layer_3/output/dense/kernel",
        ),
        ("bert/encoder/layer_0/attention/self/query/kernel/adam_m", None),
        ("cls/predictions/transform/dense/kernel", None),
        ("global_step", None),
    ],
)
def test_canonical_names(name: str, canonical: str | None) -> None:
    assert canonical_name(name) == canonical


def test_unknown_naming_lists_the_variables(unpacked: dict[str, Path], tmp_path: Path) -> None:
    ckpt = Checkpoint(_engine(unpacked["tf1"], tmp_path) / "variables" / "variables.index")
    ckpt.entries = {k.replace("bert/", "roberta/"): v for k, v in ckpt.entries.items()}
    with pytest.raises(ArtifactFormatError, match=r"unknown variable naming.*roberta/embeddings"):
        bert_state_dict(ckpt)


def test_truncated_checkpoint_index_and_data(writable, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(writable("tf1"), tmp_path)
    index = engine / "variables" / "variables.index"
    data = engine / "variables" / "variables.data-00000-of-00001"
    full = data.read_bytes()
    data.write_bytes(full[: len(full) // 2])
    with pytest.raises(ArtifactFormatError, match=r"variables.data-00000-of-00001.*truncated"):
        bert_state_dict(Checkpoint(index))
    index.write_bytes(index.read_bytes()[:-20])
    with pytest.raises(ArtifactFormatError, match=r"variables.index"):
        Checkpoint(index)


def test_unpack_helper_is_fresh(tmp_path: Path) -> None:
    root = unpack("onnx", tmp_path / "x")
    assert (root / "metadata" / "part-00000").is_file()
