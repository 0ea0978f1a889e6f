"""Hostile Spark NLP transformer zips of every family (issue 14's principles applied to the
families loader): what a hostile publisher, or anyone who can write to a shared cache, can
put in a model folder. Each model is a real folder unpacked from the committed family
fixtures and then altered byte by byte: ONNX graphs with external data pointing outside,
symbolic links, FIFOs, TensorFlow checkpoints and GraphDefs built by hand, OpenVINO XML
with entities, SentencePiece bytes, hostile metadata params. Every case is refused with a
typed error naming the file (exit 2 through the CLI), or survived; nothing outside the
model folder is read.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modelhub.errors import ArtifactFormatError, ModelhubError
from modelhub.loaders.sparknlp.families import family_for
from tests.hostile.conftest import REPO_ROOT, assert_clean_failure, run

FAMILIES = REPO_ROOT / "tests" / "fixtures" / "sparknlp" / "families"


def unpack(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    with zipfile.ZipFile(FAMILIES / f"{name}.zip") as zf:
        zf.extractall(folder)
    return folder


def load(folder: Path) -> Any:
    from modelhub.loaders.sparknlp.transformer.model import load as load_model

    return load_model(folder)


def rewrite_engine(engine: Path, members: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    engine.write_bytes(buf.getvalue())


def set_param(folder: Path, key: str, value: Any) -> None:
    path = folder / "metadata" / "part-00000"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["paramMap"][key] = value
    path.write_text(json.dumps(meta), encoding="utf-8")


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


# ----------------------------------------------------------------- ONNX external data
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def external_graph(folder: Path, data_dir: Path, location: str | list[str]) -> None:
    """Rewrites ``distilbert_onnx`` so that its weights live in external data written to
    ``data_dir/weights.bin``, each initializer's ``location`` then set to ``location`` (one
    for all, or one per initializer in turn)."""
    from onnx.external_data_helper import (
        convert_model_to_external_data,
        write_external_data_tensors,
    )

    engine = folder / "distilbert_onnx"
    with zipfile.ZipFile(engine) as zf:
        model = onnx.load_model_from_string(zf.read(zf.namelist()[0]))
    convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0
    )
    write_external_data_tensors(model, str(data_dir))
    locations = [location] if isinstance(location, str) else location
    for i, tensor in enumerate(model.graph.initializer):
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = locations[i % len(locations)]
    rewrite_engine(engine, {"distilbert_onnx": model.SerializeToString()})


@pytest.mark.parametrize("how", ["relative", "absolute", "empty", "dot", "backslash"])
def test_onnx_external_data_outside_the_model_folder_is_refused(how: str, tmp_path: Path) -> None:
    """A location of ``../..``, an absolute path, ``""`` or ``.`` (before: the last two were
    a raw IsADirectoryError; the first two were refused only by onnxruntime >= 1.17's own
    check) is refused before anything is copied, naming the engine file."""
    folder = unpack("distilbert_onnx", tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "weights.bin"
    location = {
        "relative": os.path.relpath(target, Path(os.sep, "tmp", "x")),
        "absolute": str(target),
        "empty": "",
        "dot": ".",
        "backslash": "..\\..\\weights.bin",
    }[how]
    external_graph(folder, outside, location)
    # the one side file the single-candidate fallback would otherwise pick up
    (folder / "distilbert_onnx_data").write_bytes(target.read_bytes())
    with pytest.raises(ArtifactFormatError, match="not a plain file name") as err:
        load(folder)
    assert "distilbert_onnx" in str(err.value)


def test_onnx_external_data_symlink_beside_the_engine_is_not_followed(tmp_path: Path) -> None:
    """A ``*_onnx_data`` side file that is a link to a file outside the model folder (before:
    followed, the model loaded the outside file's bytes as its weights)."""
    folder = unpack("distilbert_onnx", tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    external_graph(folder, outside, "distilbert_onnx_data")
    os.symlink(outside / "weights.bin", folder / "distilbert_onnx_data")
    with pytest.raises(ArtifactFormatError, match="symbolic link") as err:
        load(folder)
    assert "distilbert_onnx_data" in str(err.value)


def test_onnx_many_locations_do_not_copy_one_side_file_many_times(tmp_path: Path) -> None:
    """Locations that match no file by name get the one side file only when the graph names
    a single location (before: each of N names got its own copy of the same file: a disk
    bomb with a large side file)."""
    folder = unpack("distilbert_onnx", tmp_path)
    external_graph(folder, tmp_path, [f"w{i}.bin" for i in range(40)])
    (folder / "distilbert_onnx_data").write_bytes((tmp_path / "weights.bin").read_bytes())
    with pytest.raises(ArtifactFormatError, match="neither in distilbert_onnx nor beside it"):
        load(folder)


def test_onnx_external_data_past_the_end_of_its_file_is_typed(tmp_path: Path) -> None:
    """Offsets and lengths beyond the side file (survived: onnxruntime checks them)."""
    folder = unpack("distilbert_onnx", tmp_path)
    external_graph(folder, tmp_path, "distilbert_onnx_data")
    data = (tmp_path / "weights.bin").read_bytes()
    (folder / "distilbert_onnx_data").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactFormatError, match="distilbert_onnx"):
        load(folder)


def _nested_graph(depth: int) -> bytes:
    """An ONNX ModelProto, by hand, whose graph nests ``depth`` ``If`` subgraphs."""
    graph = _ld(2, b"g")
    for _ in range(depth):
        attribute = _ld(1, b"then_branch") + _varint(20 << 3) + _varint(5) + _ld(6, graph)
        node = _ld(1, b"c") + _ld(2, b"y") + _ld(4, b"If") + _ld(5, attribute)
        graph = _ld(1, node) + _ld(2, b"g")
    return (
        _varint(1 << 3)
        + _varint(8)
        + _ld(8, _ld(1, b"") + _varint(2 << 3) + _varint(17))
        + _ld(7, graph)
    )


@pytest.mark.parametrize("side_file", [False, True])
def test_deeply_nested_onnx_graph_is_typed(side_file: bool, tmp_path: Path) -> None:
    """A graph nesting 2,000 subgraphs: onnxruntime's and onnx's protobuf depth limits
    refuse it, a typed error either way (survived); no stack overflow."""
    folder = unpack("distilbert_onnx", tmp_path)
    rewrite_engine(folder / "distilbert_onnx", {"distilbert_onnx": _nested_graph(2000)})
    if side_file:  # the external-data path parses the graph with the onnx package first
        (folder / "distilbert_onnx_data").write_bytes(b"\0" * 64)
    r = run("embed", str(folder), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "distilbert_onnx" in r.stderr


# --------------------------------------------------------------- engine files by suffix
def test_engine_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    """``distilbert_onnx`` replaced by a link to an engine outside the folder (before: the
    link was followed and the outside graph ran)."""
    folder = unpack("distilbert_onnx", tmp_path)
    elsewhere = tmp_path / "elsewhere_onnx"
    (folder / "distilbert_onnx").rename(elsewhere)
    os.symlink(elsewhere, folder / "distilbert_onnx")
    with pytest.raises(ArtifactFormatError, match="symbolic link") as err:
        load(folder)
    assert str(folder / "distilbert_onnx") in str(err.value)


def test_engine_symlink_through_the_cli_exits_2(tmp_path: Path) -> None:
    folder = unpack("distilbert_onnx", tmp_path)
    elsewhere = tmp_path / "elsewhere_onnx"
    (folder / "distilbert_onnx").rename(elsewhere)
    os.symlink(elsewhere, folder / "distilbert_onnx")
    r = run("embed", str(folder), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "distilbert_onnx" in r.stderr and "symbolic link" in r.stderr


def test_engine_fifo_or_folder_is_never_opened(tmp_path: Path) -> None:
    """A FIFO named ``distilbert_onnx`` (nobody writes to it) and a folder named
    ``x_onnx`` are not engine files: no hang, a typed error listing what is there
    (survived)."""
    folder = unpack("distilbert_onnx", tmp_path)
    (folder / "distilbert_onnx").unlink()
    os.mkfifo(folder / "distilbert_onnx")
    (folder / "x_onnx").mkdir()
    r = run("embed", str(folder), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "no onnx engine file" in r.stderr


def test_spp_fifo_and_unzipped_engine_are_typed(tmp_path: Path) -> None:
    """A FIFO in place of ``albert_spp`` is never opened; a raw ONNX graph in place of the
    ``*_onnx`` zip is "not a readable zip archive" (survived)."""
    albert = unpack("albert_onnx", tmp_path)
    (albert / "albert_spp").unlink()
    os.mkfifo(albert / "albert_spp")
    r = run("embed", str(albert), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "no SentencePiece model" in r.stderr
    distil = unpack("distilbert_onnx", tmp_path)
    engine = distil / "distilbert_onnx"
    with zipfile.ZipFile(engine) as zf:
        graph = zf.read(zf.namelist()[0])
    engine.write_bytes(graph)
    r = run("embed", str(distil), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "distilbert_onnx" in r.stderr and "zip" in r.stderr


def test_two_engine_files_for_one_engine_are_refused(tmp_path: Path) -> None:
    folder = unpack("distilbert_onnx", tmp_path)
    (folder / "Other_ONNX").write_bytes((folder / "distilbert_onnx").read_bytes())
    with pytest.raises(ArtifactFormatError, match="2 onnx engine files"):
        load(folder)


@pytest.mark.parametrize("member", ["metadata/part-00000", "fields/vocabulary/part-00001"])
def test_params_or_vocabulary_symlink_is_refused(member: str, tmp_path: Path) -> None:
    """The params JSON or a vocabulary part replaced by a link to a file outside the model
    folder (before: followed and read)."""
    folder = unpack("distilbert_onnx", tmp_path)
    outside = tmp_path / "outside"
    (folder / member).rename(outside)
    os.symlink(outside, folder / member)
    r = run("embed", str(folder), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "symbolic link" in r.stderr and member.split("/")[0] in r.stderr


@pytest.mark.parametrize("folder_name", ["metadata", "fields/vocabulary", "fields"])
def test_linked_folder_inside_the_model_is_not_entered(folder_name: str, tmp_path: Path) -> None:
    """``metadata``, ``fields`` or ``fields/vocabulary`` replaced by a link to a folder
    outside (before: followed; the outside params or vocabulary were used)."""
    folder = unpack("distilbert_onnx", tmp_path)
    outside = tmp_path / "outside"
    (folder / folder_name).rename(outside)
    os.symlink(outside, folder / folder_name)
    with pytest.raises(ArtifactFormatError, match="symbolic link"):
        load(folder)


def test_linked_model_subfolder_is_not_entered(tmp_path: Path) -> None:
    """A folder whose only entry is a link to a model elsewhere (before: the model it
    points to was loaded, as if it were a zip's wrapping folder)."""
    model = unpack("distilbert_onnx", tmp_path)
    entry = tmp_path / "entry"
    entry.mkdir()
    os.symlink(model, entry / "inner")
    r = run("embed", str(entry), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "no metadata/part-00000" in r.stderr
    assert "TOKEN" not in r.stdout


def test_vocabulary_part_fifo_does_not_hang(tmp_path: Path) -> None:
    """A FIFO in place of a vocabulary part is never opened: the ids left are not
    0..N-1, a typed error (survived)."""
    folder = unpack("distilbert_onnx", tmp_path)
    (folder / "fields/vocabulary/part-00000").unlink()
    os.mkfifo(folder / "fields/vocabulary/part-00000")
    with pytest.raises(ArtifactFormatError, match="vocabulary"):
        load(folder)


# --------------------------------------------------------------------- metadata params
@pytest.mark.parametrize("value", [10**12, -5, 0, "abc", True, 1e12, [512]])
def test_hostile_max_sentence_length_is_refused_naming_the_metadata(
    value: Any, tmp_path: Path
) -> None:
    """Before: a string, a negative or a float fell back silently to 512; 10**12 was kept
    and the first text then failed with a raw onnxruntime error; ``true`` was 1."""
    folder = unpack("distilbert_onnx", tmp_path)
    set_param(folder, "maxSentenceLength", value)
    with pytest.raises(ArtifactFormatError, match="maxSentenceLength") as err:
        load(folder)
    assert "part-00000" in str(err.value)


def test_max_sentence_length_past_the_graph_positions_is_typed(tmp_path: Path) -> None:
    """A plausible maxSentenceLength longer than the graph's position table (before: a raw
    onnxruntime ``Fail`` out of ``encode``)."""
    folder = unpack("distilbert_onnx", tmp_path)
    set_param(folder, "maxSentenceLength", 4096)
    model = load(folder)
    with pytest.raises(ArtifactFormatError, match="rejected a batch") as err:
        model.embed(["hello world " * 300])
    assert "distilbert_onnx" in str(err.value)


@pytest.mark.parametrize(
    ("name", "key"), [("distilbert_onnx", "caseSensitive"), ("bge_onnx", "useCLSToken")]
)
@pytest.mark.parametrize("value", ["false", 0, [True]])
def test_flag_params_of_other_types_are_refused(
    name: str, key: str, value: Any, tmp_path: Path
) -> None:
    """Before: ``"false"`` was true (``bool("false")``), silently changing the vectors."""
    folder = unpack(name, tmp_path)
    set_param(folder, key, value)
    with pytest.raises(ArtifactFormatError, match=key):
        load(folder).encode(["hi"])


def test_dimension_mismatching_the_graph_is_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The weights win, with a warning (survived); a hostile type is ignored."""
    folder = unpack("distilbert_onnx", tmp_path)
    set_param(folder, "dimension", 999)
    with caplog.at_level("WARNING"):
        assert load(folder).dim == 32
    assert "dimension 999" in caplog.text
    set_param(folder, "dimension", "x" * 5000)
    assert load(folder).dim == 32


@pytest.mark.parametrize("value", ["x" * 10_000_000, {"a": 1}])
def test_hostile_instruction_is_refused_at_load(value: Any, tmp_path: Path) -> None:
    """A 10 MB instruction (before: 13 s and 800 MB per ``encode`` call, as it is put before
    every text and tokenized each time) or a non-string."""
    folder = unpack("instructor_onnx", tmp_path)
    set_param(folder, "instruction", value)
    with pytest.raises(ArtifactFormatError, match="instruction"):
        load(folder)


@pytest.mark.parametrize("value", ["../x", 10**6, -1, "9" * 5000])
def test_hostile_pooling_strategy_is_typed(value: Any, tmp_path: Path) -> None:
    """A path, an index past every text, a 5,000-digit index (survived)."""
    folder = unpack("mxbai_onnx", tmp_path)
    set_param(folder, "poolingStrategy", value)
    with pytest.raises(ModelhubError, match="poolingStrategy"):
        load(folder).encode(["hi"])


@pytest.mark.parametrize("value", [{"a": 1}, "../../onnx", 5])
def test_hostile_engine_param_is_typed(value: Any, tmp_path: Path) -> None:
    folder = unpack("distilbert_onnx", tmp_path)
    set_param(folder, "engine", value)
    with pytest.raises(ArtifactFormatError, match="unknown engine"):
        load(folder)


# ------------------------------------------------------------------------- SentencePiece
@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\xff\xff\xff\xff\x0f",  # field 1 claims a 4 GiB length
        b"\x0a\x05\x0a\x03ab",  # truncated piece
        b"\x0a" + b"\xff" * 11,  # overlong varint
        b"\x0f\x00",  # wire type 7
        bytes(range(256)) * 8,  # garbage
    ],
)
def test_hostile_spp_bytes_are_typed(data: bytes) -> None:
    """The hand-written ModelProto reader and sentencepiece's own loader (survived)."""
    from modelhub.loaders.sparknlp.tokenizers import make_tokenizer
    from modelhub.loaders.sparknlp.tokenizers.spm_proto import read_spm_model

    with pytest.raises(ArtifactFormatError):
        read_spm_model(data, "x_spp")
    pytest.importorskip("sentencepiece")
    with pytest.raises(ArtifactFormatError):
        make_tokenizer(
            family_for("AlbertEmbeddings"), spp=data, case_sensitive=False, max_length=16
        )


# ------------------------------------------------------------------ TensorFlow GraphDef
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _node(name: str, op: str, attrs: bytes = b"") -> bytes:
    return _ld(1, _ld(1, name.encode()) + _ld(2, op.encode()) + attrs)


def _const(name: str, dtype: int, content: bytes = b"", floats: bytes | None = None) -> bytes:
    tensor = _varint(1 << 3) + _varint(dtype) + _ld(4, content)
    if floats is not None:
        tensor += _ld(5, floats)
    return _node(name, "Const", _ld(5, _ld(1, b"value") + _ld(2, _ld(8, tensor))))


SHAPE = "bert/encoder/layer_0/attention/self/Reshape/shape/2"


@pytest.mark.parametrize(
    "graph",
    [
        _const(SHAPE, 3, b"\x01\x02\x03\x04\x05"),  # int32 content of 5 bytes
        _const(SHAPE, 1, b"", floats=b"\x01\x02\x03\x04\x05"),  # packed floats of 5 bytes
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # a length of 2**63 - 1
        b"\x12\x05\x0a\x03\x1a\x09",  # truncated function library
    ],
    ids=["int32-5-bytes", "packed-floats-5-bytes", "huge-length", "truncated-library"],
)
def test_malformed_graphdef_is_typed(graph: bytes) -> None:
    """Before: the first two were raw ``ValueError`` / ``struct.error``."""
    from modelhub.loaders.sparknlp.runners.tf_graph import graph_facts

    with pytest.raises(ArtifactFormatError, match=r"saved_model\.pb"):
        graph_facts(graph, "x_tensorflow!saved_model.pb", 128)


def test_graphdef_numbers_past_any_model_are_not_believed() -> None:
    """A 5,000-digit layer index (before: ``ValueError: Exceeds the limit (4300 digits)``),
    a layer index of 10**18 (before: ALBERT with 10**18 shared layers, every call a hang) and
    a Longformer window of 2**62 (before: every input padded to a multiple of it)."""
    from modelhub.loaders.sparknlp.runners.tf_graph import graph_facts

    graph = (
        _node("albert/encoder/transformer/layer_" + "9" * 5000 + "/x", "Add")
        + _node("albert/encoder/transformer/layer_" + "9" * 18 + "/x", "Add")
        + _const("longformer/mod/y", 9, (2**62).to_bytes(8, "little"))
        + _const("bert/encoder/layer_0/attention/self/Reshape/shape/" + "9" * 5000, 3, b"\0" * 4)
    )
    facts = graph_facts(graph, "x_tensorflow!saved_model.pb", 128)
    assert facts.layer_count is None
    assert facts.attention_window is None


def test_albert_layer_count_from_the_graph_is_bounded(tmp_path: Path) -> None:
    """ALBERT's layer count comes only from the graph (the weights are shared): a node in
    a ``layer_9999`` scope (before: a model of 10,000 layers was built and run)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from modelhub.loaders.sparknlp.runners.tensorflow import open_tensorflow

    engine = next((FAMILIES / "albert").glob("*_tensorflow"))
    with zipfile.ZipFile(engine) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["saved_model.pb"] += _node("bert/encoder/transformer/layer_9999/x", "Add")
    hostile = tmp_path / engine.name
    rewrite_engine(hostile, members)
    with pytest.raises(ArtifactFormatError, match="10000 layers") as err:
        open_tensorflow(hostile, family_for("AlbertEmbeddings"), root=tmp_path)
    assert str(hostile) in str(err.value)


def test_checkpoint_layer_index_of_5000_digits_is_typed() -> None:
    """A variable ``encoder.layer.<5,000 digits>.x`` (before: ``ValueError: Exceeds the
    limit (4300 digits)``)."""
    import numpy as np

    from modelhub.loaders.sparknlp.runners.tf_config import infer_config
    from modelhub.loaders.sparknlp.runners.tf_graph import GraphFacts

    state = {
        "embeddings.word_embeddings.weight": np.zeros((4, 8), np.float32),
        "encoder.layer.0.x": np.zeros(1, np.float32),
        "encoder.layer." + "9" * 5000 + ".x": np.zeros(1, np.float32),
    }
    facts = GraphFacts(None, None, None, None, None, frozenset())
    with pytest.raises(ArtifactFormatError, match="layer index past any model"):
        infer_config("bert", state, facts, "x_tensorflow")


# ---------------------------------------------------------------- TensorFlow checkpoint
def _table(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A TensorFlow table file (the checkpoint ``.index``): one data block, its index
    block and the footer, uncompressed, as TensorFlow writes them."""

    def block(items: list[tuple[bytes, bytes]]) -> bytes:
        body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in items)
        return body + struct.pack("<II", 0, 1)

    data = block(entries)
    out = data + b"\0" + b"\0\0\0\0"  # type byte (uncompressed), unchecked crc
    handle = _varint(0) + _varint(len(data))
    index = block([(entries[-1][0] + b"\xff", handle)])
    index_off = len(out)
    out += index + b"\0\0\0\0\0"
    footer = _varint(0) + _varint(0) + _varint(index_off) + _varint(len(index))
    footer = footer.ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    return out + footer


def _bundle_entry(dtype: int, shape: list[int], size: int, offset: int = 0) -> bytes:
    dims = b"".join(_ld(2, _varint(1 << 3) + _varint(d & (2**64 - 1))) for d in shape)
    return (
        _varint(1 << 3) + _varint(dtype) + _ld(2, dims) + _varint(4 << 3) + _varint(offset)
        + _varint(5 << 3) + _varint(size)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "size", "stored"),
    [
        ([-1, -4], 16, 16),  # negative dimensions whose product matches
        ([2**32, 2**32], 0, 0),  # numpy's product wraps to 0
        ([1], 5, 8),  # 5 bytes of float32
        ([10**6, 10**6], 16, 16),  # 10**12 values declared, 4 stored
        ([4], 16, 8),  # offset past the data file
    ],
)
def test_hostile_checkpoint_entries_are_typed(
    shape: list[int], size: int, stored: int, tmp_path: Path
) -> None:
    """Before: the first three were a raw ``ValueError`` from numpy."""
    from modelhub.loaders.sparknlp.tf_checkpoint import Checkpoint

    index = tmp_path / "variables.index"
    header = _varint(1 << 3) + _varint(1)
    index.write_bytes(_table([(b"", header), (b"w", _bundle_entry(1, shape, size))]))
    (tmp_path / "variables.data-00000-of-00001").write_bytes(b"\0" * stored)
    ckpt = Checkpoint(index)
    with pytest.raises(ArtifactFormatError, match=r"'w'|variables"):
        ckpt.tensor("w")


def test_xlnet_variable_with_a_5000_digit_layer_is_typed(tmp_path: Path) -> None:
    """The original-XLNet naming counts layers from the variable names: one renamed to
    ``layer_<5,000 digits>`` in a rebuilt ``variables.index`` (before: int()'s raw
    ``ValueError``)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from modelhub.loaders.sparknlp.runners.tensorflow import open_tensorflow
    from modelhub.loaders.sparknlp.tf_checkpoint import read_table

    folder = unpack("xlnet_tensorflow", tmp_path)
    engine = folder / "xlnet_tensorflow"
    with zipfile.ZipFile(engine) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    index = tmp_path / "variables.index"
    index.write_bytes(members["variables/variables.index"])
    entries = read_table(index)
    huge = "layer_" + "9" * 5000 + "/"
    renamed = sorted(
        (k.replace(b"layer_0/", huge.encode()) if b"/layer_0/" in k else k, v) for k, v in entries
    )
    assert renamed != sorted(entries)
    members["variables/variables.index"] = _table(renamed)
    rewrite_engine(engine, members)
    with pytest.raises(ArtifactFormatError, match="layer index past any model"):
        open_tensorflow(engine, family_for("XlnetEmbeddings"), root=folder)


# ------------------------------------------------------------------------------ OpenVINO
def _openvino_members(folder: Path) -> tuple[Path, dict[str, bytes]]:
    engine = folder / "distilbert_openvino"
    with zipfile.ZipFile(engine) as zf:
        return engine, {n: zf.read(n) for n in zf.namelist()}


def test_openvino_external_entity_is_not_expanded(tmp_path: Path) -> None:
    """An XML whose element type comes from an external entity naming a file that holds
    ``i64``: had the entity been read, the graph would load; it is refused (survived:
    OpenVINO's XML reader expands no entities, so no file is read and no bomb grows)."""
    pytest.importorskip("openvino")
    folder = unpack("distilbert_openvino", tmp_path)
    engine, members = _openvino_members(folder)
    secret = tmp_path / "secret.txt"
    secret.write_text("i64")
    xml = members["openvino_model.xml"].decode()
    doctype = f'<!DOCTYPE net [<!ENTITY x SYSTEM "file://{secret}">]>\n'
    xml = xml.replace("?>\n", "?>\n" + doctype, 1).replace(
        'element_type="i64"', 'element_type="&x;"', 1
    )
    members["openvino_model.xml"] = xml.encode()
    rewrite_engine(engine, members)
    with pytest.raises(ArtifactFormatError, match=r"openvino_model\.xml"):
        load(folder)


def test_openvino_bin_shorter_than_the_xml_offsets_is_typed(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    folder = unpack("distilbert_openvino", tmp_path)
    engine, members = _openvino_members(folder)
    members["openvino_model.bin"] = members["openvino_model.bin"][:100]
    rewrite_engine(engine, members)
    r = run("embed", str(folder), "hi", env=cli_env())
    assert_clean_failure(r, 2)
    assert "openvino_model.xml" in r.stderr
