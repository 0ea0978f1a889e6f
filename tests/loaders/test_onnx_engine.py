"""The ONNX Runtime engine of Hugging Face BERT directories: exported once into a
verified derived folder, self-checked against torch, torch when anything is off."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from modelhub.derived import check_folder, read_manifest  # noqa: E402
from modelhub.errors import EngineUnavailable  # noqa: E402
from modelhub.loaders.engines.onnx_engine import (  # noqa: E402
    CHECK_BOUND,
    OnnxEncoder,
    onnx_encoder,
    torch_hidden,
)
from modelhub.loaders.engines.onnx_export import ONNX_NAME, ExportSettings  # noqa: E402
from modelhub.loaders.engines.torch_engine import load_torch_model  # noqa: E402
from modelhub.loaders.hf import HFDirectory, inspect_dir  # noqa: E402
from tests.loaders.conftest import _save_tiny  # noqa: E402


def _hf(path: Path) -> HFDirectory:
    found = inspect_dir(path)
    assert isinstance(found, HFDirectory)
    return found


def _torch(hf: HFDirectory):
    return lambda: load_torch_model(hf, torch.device("cpu"))


def _never():
    raise AssertionError("torch was loaded although the export was already there")


def _folder(derived: Path) -> Path:
    (folder,) = [p for p in derived.iterdir() if p.is_dir()]
    return folder


def _batch(n_rows: int = 3, width: int = 11):
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 60, (n_rows, width)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 2:] = 0
    ids[mask == 0] = 0
    return ids, mask, np.zeros_like(ids)


def test_onnx_output_equals_torch_within_1e4_and_lives_in_a_verified_folder(
    tiny_bert: Path, tmp_path: Path
) -> None:
    hf = _hf(tiny_bert)
    enc = onnx_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf))
    assert isinstance(enc, OnnxEncoder)
    ids, mask, types = _batch()
    ref = torch_hidden(_torch(hf)(), ids, mask, types)
    got = enc(ids, mask, types)
    assert got.dtype == np.float32 and got.shape == ref.shape
    keep = mask.astype(bool)
    assert np.abs(ref[keep] - got[keep]).max() <= 1e-4
    folder = _folder(tmp_path)
    assert folder.name.startswith("onnx-") and enc.path == folder / ONNX_NAME
    manifest = read_manifest(folder)
    assert manifest is not None
    assert manifest["check"]["passed"] and manifest["check"]["max_abs"] <= CHECK_BOUND
    assert set(manifest["files"]) == {ONNX_NAME}
    assert check_folder(folder) == []
    # The graph is fused for ONNX Runtime's BERT kernels.
    assert manifest["fusions"].get("Attention", 0) == 2


def test_second_load_uses_the_export_without_torch(tiny_bert: Path, tmp_path: Path) -> None:
    hf = _hf(tiny_bert)
    first = onnx_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf))
    assert first is not None
    created = read_manifest(_folder(tmp_path))["created"]  # type: ignore[index]
    again = onnx_encoder(hf, derived_dir=tmp_path, torch_model=_never)
    assert again is not None and again.path == first.path
    assert read_manifest(_folder(tmp_path))["created"] == created  # type: ignore[index]


def test_changed_weights_get_a_new_export(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    model = _save_tiny(tmp_path / "m" / "tiny", seed=1)
    hf = _hf(model)
    derived = tmp_path / "derived"
    one = onnx_encoder(hf, derived_dir=derived, torch_model=_torch(hf))
    _save_tiny(tmp_path / "m" / "tiny", seed=2)  # same directory, new weights
    two = onnx_encoder(hf, derived_dir=derived, torch_model=_torch(hf))
    assert one is not None and two is not None and one.path != two.path
    ids, mask, types = _batch()
    ref = torch_hidden(_torch(hf)(), ids, mask, types)
    assert np.abs(ref - two(ids, mask, types))[mask.astype(bool)].max() <= 1e-4


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_export_is_never_loaded_but_derived_again(
    tiny_bert: Path, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    hf = _hf(tiny_bert)
    assert onnx_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf)) is not None
    folder = _folder(tmp_path)
    graph = folder / ONNX_NAME
    data = bytearray(graph.read_bytes())
    if damage == "truncate":
        graph.write_bytes(data[: len(data) // 2])
    else:  # same size, one weight byte changed: only the SHA-256 tells
        data[len(data) - 100] ^= 0xFF
        graph.write_bytes(bytes(data))
    assert check_folder(folder) != []
    loaded: list[bool] = []

    def counting():
        loaded.append(True)
        return _torch(hf)()

    with caplog.at_level(logging.WARNING):
        enc = onnx_encoder(hf, derived_dir=tmp_path, torch_model=counting)
    assert "damaged" in caplog.text
    assert loaded, "the damaged graph must be exported again (which needs torch)"
    assert enc is not None and check_folder(_folder(tmp_path)) == []
    ids, mask, types = _batch()
    ref = torch_hidden(_torch(hf)(), ids, mask, types)
    assert np.abs(ref - enc(ids, mask, types))[mask.astype(bool)].max() <= 1e-4


def test_failed_self_check_falls_back_to_torch_once_warned_then_remembered(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hf = _hf(tiny_bert)
    # torch's side of the check comes from other weights: the graph disagrees with it.
    (tmp_path / "other").mkdir()
    other = _hf(_save_tiny(tmp_path / "other" / "tiny", seed=5))
    derived = tmp_path / "derived"
    with caplog.at_level(logging.WARNING):
        assert onnx_encoder(hf, derived_dir=derived, torch_model=_torch(other)) is None
    assert "differs from torch" in caplog.text
    manifest = read_manifest(_folder(derived))
    assert manifest is not None and manifest["check"]["passed"] is False
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert onnx_encoder(hf, derived_dir=derived, torch_model=_never) is None
    assert caplog.text == ""  # remembered: no new export, no new warning
    # engine="onnx" insists: it gets the graph, with a warning.
    with caplog.at_level(logging.WARNING):
        forced = onnx_encoder(hf, engine="onnx", derived_dir=derived, torch_model=_never)
    assert forced is not None and "anyway" in caplog.text


def test_a_failed_export_falls_back_and_forcing_onnx_raises(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hf = _hf(tiny_bert)
    bad = ExportSettings(opset=3)  # no exporter writes opset 3
    with caplog.at_level(logging.WARNING):
        assert onnx_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf), settings=bad) is None
    assert "could not be exported" in caplog.text
    manifest = read_manifest(_folder(tmp_path))
    assert manifest is not None and manifest["error"] and manifest["files"] == {}
    with pytest.raises(EngineUnavailable, match="could not be exported"):
        onnx_encoder(hf, engine="onnx", derived_dir=tmp_path, torch_model=_never, settings=bad)


def test_engine_torch_and_no_derived_folder(tiny_bert: Path, tmp_path: Path) -> None:
    hf = _hf(tiny_bert)
    assert onnx_encoder(hf, engine="torch", derived_dir=tmp_path, torch_model=_never) is None
    assert list(tmp_path.iterdir()) == []
    # auto without a place to keep the export: torch
    assert onnx_encoder(hf, derived_dir=None, torch_model=_never) is None
    # onnx without one: exported for this load only
    enc = onnx_encoder(hf, engine="onnx", derived_dir=None, torch_model=_torch(hf))
    assert enc is not None
    ids, mask, types = _batch()
    assert enc(ids, mask, types).shape == (3, 11, 32)
    with pytest.raises(ValueError, match="engine='tensorrt'"):
        onnx_encoder(hf, engine="tensorrt", derived_dir=tmp_path, torch_model=_never)


def test_an_unwritable_derived_dir_means_torch(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hf = _hf(tiny_bert)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # stops mkdir even for root
    with caplog.at_level(logging.WARNING):
        assert onnx_encoder(hf, derived_dir=blocker / "derived", torch_model=_torch(hf)) is None
    assert "cannot write the ONNX export" in caplog.text
    with pytest.raises(EngineUnavailable, match="cannot write"):
        onnx_encoder(hf, engine="onnx", derived_dir=blocker / "derived", torch_model=_torch(hf))


def test_source_memo_is_trusted_only_while_the_files_are_unchanged(
    tiny_bert: Path, tmp_path: Path
) -> None:
    from modelhub.loaders.engines.onnx_export import SOURCE_NAME, source_digest

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    hf = _hf(model)
    first = source_digest(hf, tmp_path)
    memo = json.loads((tmp_path / SOURCE_NAME).read_text())
    assert memo["sha256"] == first
    (model / "config.json").write_text(
        (model / "config.json").read_text().replace('"hidden_act"', '"hidden_act" ')
    )
    assert source_digest(hf, tmp_path) != first


# -- through pretrained(): where the export lives, engine choice, cache verify -------------


@pytest.fixture
def cli_logging():
    """The in-process CLI leaves its stderr handler on the ``modelhub`` logger;
    later tests in this directory expect a bare one."""
    logger = logging.getLogger("modelhub")
    handlers, level = list(logger.handlers), logger.level
    yield
    for h in logger.handlers[:]:
        if h not in handlers:
            logger.removeHandler(h)
    logger.setLevel(level)


def test_pretrained_local_dir_runs_onnx_by_default_and_torch_when_asked(
    tiny_bert: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelhub
    from modelhub.loaders import engines

    # ONNX Runtime as the only converted engine "auto" tries (OpenVINO: its own tests).
    monkeypatch.setattr(engines, "AUTO_ORDER", ("onnx",))

    texts = ["i hate cancer", "aspirin lowers the risk of myocardial infarction", ""]
    default = modelhub.pretrained(tiny_bert)
    assert default.describe()["engine"] == "onnx"
    # The export lives in the cache, under derived/local/, keyed by the files' hashes.
    exports = list((isolated_env / "derived" / "local").glob("*/onnx-*/model.onnx"))
    assert len(exports) == 1
    on_torch = modelhub.pretrained(tiny_bert, engine="torch")
    assert on_torch.describe()["engine"] == "torch"
    a, b = default.encode(texts), on_torch.encode(texts)
    assert np.abs(a - b).max() <= 1e-5
    tokens_a = default.embed(texts[:2])
    tokens_b = on_torch.embed(texts[:2])
    for x, y in zip(tokens_a, tokens_b, strict=True):
        assert x.tokens == y.tokens and np.abs(x.vectors - y.vectors).max() <= 1e-4
    # No place to keep an export: torch.
    assert modelhub.pretrained(tiny_bert, derived_dir=None).describe()["engine"] == "torch"
    forced = modelhub.pretrained(tiny_bert, engine="onnx")
    assert forced.describe()["engine"] == "onnx"
    with pytest.raises(ValueError, match="engine='onnx' computes in float32"):
        modelhub.pretrained(tiny_bert, engine="onnx", dtype="bfloat16")


def test_cache_verify_reports_a_damaged_derived_file_and_repair_deletes_it(
    tiny_bert: Path, capsys: pytest.CaptureFixture[str], cli_logging: None
) -> None:
    from modelhub.derived import DERIVED_DIR
    from tests.cache.conftest import cli, cli_json, install

    files = {p.name: p.read_bytes() for p in tiny_bert.iterdir() if p.is_file()}
    entry = install("tiny_bert", files, engine="pytorch")
    derived = entry.dir / DERIVED_DIR
    hf = _hf(entry.path)
    assert onnx_encoder(hf, derived_dir=derived, torch_model=_torch(hf)) is not None
    rc, out, _err = cli("cache", "verify", "--all", capsys=capsys)
    assert rc == 0, out
    rc, listing = cli_json("cache", "ls", capsys=capsys)
    assert rc == 0 and not listing.get("unknown"), listing
    graph = next(derived.glob("onnx-*/model.onnx"))
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    rc, out, _err = cli("cache", "verify", "--all", capsys=capsys)
    assert rc == 1
    assert "derived/onnx-" in out and "SHA-256 differs" in out
    rc, report = cli_json("cache", "verify", "--all", "--repair", capsys=capsys)
    assert rc == 0 and report["ok"]
    assert not graph.exists()
    rc, out, _err = cli("cache", "verify", "--all", capsys=capsys)
    assert rc == 0
    # The next load exports again.
    assert onnx_encoder(hf, derived_dir=derived, torch_model=_torch(hf)) is not None
    assert check_folder(graph.parent) == []


def test_cache_rm_removes_the_export_with_the_entry(
    tiny_bert: Path, capsys: pytest.CaptureFixture[str], cli_logging: None
) -> None:
    from modelhub.derived import DERIVED_DIR
    from tests.cache.conftest import cli, install

    files = {p.name: p.read_bytes() for p in tiny_bert.iterdir() if p.is_file()}
    entry = install("tiny_bert", files, engine="pytorch")
    hf = _hf(entry.path)
    assert onnx_encoder(hf, derived_dir=entry.dir / DERIVED_DIR, torch_model=_torch(hf))
    rc, _out, _err = cli("cache", "rm", "tiny_bert", "--yes", capsys=capsys)
    assert rc == 0
    assert not entry.dir.exists()


def test_int8_is_opt_in_lossy_and_only_on_onnx(tiny_bert: Path, isolated_env: Path) -> None:
    import modelhub
    from modelhub.errors import OptionError

    texts = ["i hate cancer", "aspirin lowers the risk of myocardial infarction"]
    exact = modelhub.pretrained(tiny_bert, engine="torch").encode(texts)
    int8 = modelhub.pretrained(tiny_bert, dtype="int8")
    assert int8.describe()["engine"] == "onnx" and int8.describe()["dtype"] == "int8"
    got = int8.encode(texts)
    cos = (got * exact).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(exact, axis=1)
    assert cos.min() >= 0.98
    assert not np.array_equal(got, exact)  # it is another graph: int8 weights
    manifest = read_manifest(int8.encoder.path.parent)
    assert manifest is not None and manifest["settings"]["quantize"] == "int8"
    with pytest.raises(OptionError, match="runs on ONNX Runtime"):
        modelhub.pretrained(tiny_bert, engine="torch", dtype="int8")
