"""Spark NLP zips prepared once (``modelhub.loaders.sparknlp.prepared``): the first
``modelhub.pretrained`` of a folder inflates its engine and parses its tokenizer files into
a derived folder of the cache; later loads read that instead, give the same vectors, and a
damaged, unwritable or hostile case falls back or fails as a load from the zip does."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelhub
from modelhub.derived import check_folder
from modelhub.errors import ArtifactFormatError, ModelhubError
from modelhub.loaders import select_loader
from modelhub.loaders.sparknlp.prepared import ENGINE_DIR, TOKENIZER_NAME
from modelhub.loaders.sparknlp.transformer.model import load
from tests.sparknlp.conftest import ZIPS as BERT_ZIPS
from tests.sparknlp.conftest import unpack as unpack_bert

from .conftest import FAMILIES_DIR, ZIPS, external_data_graph, needs_tokenizers

pytestmark = pytest.mark.usefixtures("transformer_loader_registered")
TEXTS = ["I hate cancer", "Zürich café, naïve résumé.", "a b c d e f g"]


def _unpack(name: str, target: Path) -> Path:
    with zipfile.ZipFile(FAMILIES_DIR / f"{name}.zip") as zf:
        zf.extractall(target / name)
    return target / name


def _prepared() -> list[Path]:
    cache = Path(os.environ["MODELHUB_CACHE"])
    return sorted(p for p in cache.glob("derived/local/*/sparknlp-*") if p.is_dir())


def _same(a: Any, b: Any) -> None:
    assert np.array_equal(a.encode(TEXTS), b.encode(TEXTS))
    if "sentence_embedding" in a.runner.outputs:
        return  # Nomic's graph pools inside: no token vectors to compare
    for x, y in zip(a.embed(TEXTS), b.embed(TEXTS), strict=True):
        assert x.tokens == y.tokens
        assert np.array_equal(x.vectors, y.vectors)


#: BERT's ONNX and TensorFlow zips are the sparknlp_bert loader's, which reads them in place.
TRANSFORMER_ZIPS = [z for z in ZIPS if not (z.startswith("bert") and not z.endswith("openvino"))]


@pytest.mark.parametrize("name", TRANSFORMER_ZIPS)
def test_prepared_load_gives_what_the_zip_gives(name: str, tmp_path: Path) -> None:
    needs_tokenizers(name)
    folder = _unpack(name, tmp_path)
    assert select_loader(folder).name == "sparknlp_transformer"
    from_zip = load(folder)
    first = modelhub.pretrained(folder)  # prepares
    [prepared] = _prepared()
    assert (prepared / TOKENIZER_NAME).is_file() and any((prepared / ENGINE_DIR).iterdir())
    assert check_folder(prepared) == []
    again = modelhub.pretrained(folder)  # reads the prepared folder
    assert _prepared() == [prepared]
    _same(from_zip, first)
    _same(from_zip, again)


def _corrupt_keeping_stamp(path: Path) -> None:
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 :] = b"\0" * (len(raw) - len(raw) // 2)
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("name", ["roberta_onnx", "e5_tensorflow", "xlmroberta_onnx"])
def test_later_loads_do_not_read_the_engine_zip_or_the_vocabulary(
    name: str, tmp_path: Path
) -> None:
    """The prepared folder stands in for the zip's slow parts: with the engine zip and
    the tokenizer files damaged behind the digest memo's back (same size, mtime, inode),
    the load still succeeds from the prepared folder."""
    needs_tokenizers(name)
    folder = _unpack(name, tmp_path)
    want = modelhub.pretrained(folder).encode(TEXTS)
    [engine] = [p for p in folder.iterdir() if p.name.lower().endswith(f"_{name.split('_')[-1]}")]
    _corrupt_keeping_stamp(engine)
    for part in folder.glob("fields/*/part-*"):
        _corrupt_keeping_stamp(part)
    assert np.array_equal(modelhub.pretrained(folder).encode(TEXTS), want)
    with pytest.raises(ModelhubError):  # the zip itself is now unreadable
        load(folder)


def test_an_edited_model_is_prepared_again(tmp_path: Path) -> None:
    folder = _unpack("bge_onnx", tmp_path)
    modelhub.pretrained(folder)
    [old] = _prepared()
    engine = folder / "bge_onnx"
    with zipfile.ZipFile(engine) as zf:
        member, graph = zf.namelist()[0], zf.read(zf.namelist()[0])
    with zipfile.ZipFile(engine, "w", zipfile.ZIP_STORED) as zf:  # other bytes, same graph
        zf.writestr(member, graph)
    got = modelhub.pretrained(folder).encode(TEXTS)
    assert len(_prepared()) == 2 and old in _prepared()
    assert np.array_equal(got, load(folder).encode(TEXTS))


def test_a_damaged_prepared_folder_is_prepared_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _unpack("mpnet_onnx", tmp_path)
    want = modelhub.pretrained(folder).encode(TEXTS)
    [prepared] = _prepared()
    [graph] = [p for p in (prepared / ENGINE_DIR).rglob("*") if p.is_file()]
    graph.write_bytes(graph.read_bytes()[:100])  # truncated: a size the manifest denies
    with caplog.at_level("WARNING"):
        got = modelhub.pretrained(folder).encode(TEXTS)
    assert "damaged" in caplog.text and str(prepared) in caplog.text
    assert np.array_equal(got, want)
    assert _prepared() == [prepared] and check_folder(prepared) == []


def test_an_unwritable_derived_folder_reads_the_zip(tmp_path: Path) -> None:
    folder = _unpack("roberta_sentence_onnx", tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder would go")
    got = modelhub.pretrained(folder, derived_dir=blocker / "derived").encode(TEXTS)
    assert np.array_equal(got, load(folder).encode(TEXTS))
    assert _prepared() == []


def test_a_hostile_engine_zip_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    """A member escaping the archive: the same typed error as a load from the zip, and no
    prepared (or half-written) folder stays behind."""
    folder = _unpack("e5_onnx", tmp_path)
    engine = folder / "e5_onnx"
    with zipfile.ZipFile(engine) as zf:
        graph = zf.read(zf.namelist()[0])
    with zipfile.ZipFile(engine, "w") as zf:
        zf.writestr("model.onnx", graph)
        zf.writestr("../../escape.onnx_data", b"x" * 64)
    with pytest.raises(ModelhubError) as from_zip:
        load(folder)
    with pytest.raises(type(from_zip.value), match="escape"):
        modelhub.pretrained(folder)
    cache = Path(os.environ["MODELHUB_CACHE"])
    assert _prepared() == []
    assert not list(cache.glob("derived/local/*/.tmp-*"))
    assert not (tmp_path / "escape.onnx_data").exists()


def test_onnx_graphs_load_from_their_path_only_when_self_contained(tmp_path: Path) -> None:
    """A prepared ONNX graph without external data is handed to onnxruntime by path; one
    that names an external-data file (here one that exists nowhere) is not, and gives the
    zip's own typed error rather than whatever a path-relative lookup would find."""
    from modelhub.derived import read_manifest

    folder = _unpack("e5_onnx", tmp_path / "plain")
    modelhub.pretrained(folder)
    [prepared] = _prepared()
    manifest = read_manifest(prepared)
    assert manifest is not None and manifest["plain_graph"].startswith(f"{ENGINE_DIR}/")

    folder = _unpack("e5_onnx", tmp_path / "external")
    engine = folder / "e5_onnx"
    graph = external_data_graph(engine, tmp_path / "work", "weights.bin")
    with zipfile.ZipFile(engine, "w") as zf:  # the graph alone goes into the zip
        zf.write(graph, "model.onnx")
    with pytest.raises(ModelhubError, match=r"weights\.bin") as from_zip:
        load(folder)
    with pytest.raises(type(from_zip.value), match=r"weights\.bin"):
        modelhub.pretrained(folder)


@pytest.mark.parametrize("name", sorted(BERT_ZIPS))
def test_sparknlp_bert_zips_are_prepared_too(name: str, tmp_path: Path) -> None:
    """The BERT loader keeps its zips prepared the same way (the ONNX graph inflated,
    the TensorFlow weights converted); later loads read neither the zip nor the
    vocabulary and give the same vectors."""
    from modelhub.loaders.sparknlp.model import load as load_bert

    folder = unpack_bert(name, tmp_path / name)
    want = load_bert(folder)
    first = modelhub.pretrained(folder)
    [prepared] = _prepared()
    assert (prepared / TOKENIZER_NAME).is_file()
    [engine] = [p for p in folder.iterdir() if p.name.startswith("bert_")]
    _corrupt_keeping_stamp(engine)
    for part in folder.glob("fields/vocabulary/part-*"):
        _corrupt_keeping_stamp(part)
    again = modelhub.pretrained(folder)
    try:
        tokens = want.embed(TEXTS)
    except ArtifactFormatError:  # a sentence graph with only its pooler output
        tokens = None
    for got in (first, again):
        assert np.array_equal(got.encode(TEXTS), want.encode(TEXTS))
        if tokens is None:
            with pytest.raises(ArtifactFormatError):
                got.embed(TEXTS)
            continue
        for x, y in zip(got.embed(TEXTS), tokens, strict=True):
            assert x.tokens == y.tokens and np.array_equal(x.vectors, y.vectors)
    with pytest.raises(ModelhubError):
        load_bert(folder)


def _load_twice(tmp_path: Path, name: str = "e5_onnx") -> tuple[Path, Path, Path, Any]:
    """A folder loaded once with a derived folder: (model folder, derived dir, prepared
    folder, the vectors of TEXTS)."""
    folder = _unpack(name, tmp_path)
    derived = tmp_path / "derived"
    want = load(folder, derived_dir=derived).encode(TEXTS)
    [prepared] = [p for p in derived.glob("sparknlp-*") if p.is_dir()]
    return folder, derived, prepared, want


def test_a_damaged_member_the_runner_never_reads_is_left_to_the_zip(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A load from the zip reads only the members it needs: one failing its CRC elsewhere
    in the engine zip must not make the first (preparing) load fail where the zip loads."""
    folder = _unpack("e5_onnx", tmp_path)
    engine = folder / "e5_onnx"
    with zipfile.ZipFile(engine, "a") as zf:
        zf.writestr("notes.txt", b"never read by the runner " * 8)
    raw = bytearray(engine.read_bytes())
    with zipfile.ZipFile(engine) as zf:
        info = zf.getinfo("notes.txt")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 3] ^= 0xFF  # the stored bytes change, the CRC in the header does not
    engine.write_bytes(bytes(raw))
    want = load(folder).encode(TEXTS)
    with caplog.at_level("WARNING"):
        got = load(folder, derived_dir=tmp_path / "derived").encode(TEXTS)
    assert np.array_equal(got, want)
    assert "notes.txt" in caplog.text and "reading the zip" in caplog.text
    assert not list((tmp_path / "derived").glob("sparknlp-*/")) + list(
        (tmp_path / "derived").glob(".tmp-*")
    )


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _devzero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _a_list(path: Path) -> None:
    path.write_text("[1, 2]")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", ["derived.json", "sparknlp-source.json"])
@pytest.mark.parametrize("damage", [_fifo, _devzero, _deep, _a_list])
def test_a_fifo_link_or_crafted_json_for_a_manifest_or_memo_is_damage(
    what: str, damage: Any, tmp_path: Path
) -> None:
    """Whoever can write the cache must not hang a load (a FIFO, a link to /dev/zero) nor
    crash it with a raw exception (JSON nested 100,000 deep, a list for a dict): the
    manifest or memo is damage, the model prepared again, the vectors the same."""
    folder, derived, prepared, want = _load_twice(tmp_path)
    damage((prepared if what == "derived.json" else derived) / what)
    got = load(folder, derived_dir=derived).encode(TEXTS)
    assert np.array_equal(got, want)
    assert check_folder(prepared) == []


def test_links_out_of_a_prepared_folder_are_not_followed(tmp_path: Path) -> None:
    """A prepared folder, or its engine/ folder, replaced by a link to a copy elsewhere (or
    a manifest naming /etc/hostname): damage, prepared again inside the cache."""
    folder, derived, prepared, want = _load_twice(tmp_path)
    outside = tmp_path / "outside"
    shutil.copytree(prepared, outside / "p")
    shutil.rmtree(prepared / ENGINE_DIR)
    (prepared / ENGINE_DIR).symlink_to(outside / "p" / ENGINE_DIR)
    assert any("missing" in p for p in check_folder(prepared))
    assert np.array_equal(load(folder, derived_dir=derived).encode(TEXTS), want)
    assert not (prepared / ENGINE_DIR).is_symlink() and check_folder(prepared) == []

    shutil.rmtree(prepared)
    prepared.symlink_to(outside / "p")
    assert check_folder(prepared) == ["a symbolic link, not a derived folder"]
    assert np.array_equal(load(folder, derived_dir=derived).encode(TEXTS), want)
    assert not prepared.is_symlink() and check_folder(prepared) == []
    assert (outside / "p" / "derived.json").is_file()  # what the link pointed at is left

    manifest = json.loads((prepared / "derived.json").read_text("utf-8"))
    manifest["files"]["/etc/hostname"] = {"size": 1, "sha256": "0" * 64}
    (prepared / "derived.json").write_text(json.dumps(manifest), "utf-8")
    assert check_folder(prepared) == ["'/etc/hostname': not a name inside the folder"]
