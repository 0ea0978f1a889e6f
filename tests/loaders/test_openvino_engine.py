"""The OpenVINO engine of Hugging Face BERT directories: converted once by OpenVINO's own
converter into a verified derived folder, self-checked against torch, float32 on any CPU,
and one of the engines ``engine="auto"`` tries."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
torch = pytest.importorskip("torch")

from modelhub.derived import check_folder, read_manifest  # noqa: E402
from modelhub.errors import EngineUnavailable, OptionError  # noqa: E402
from modelhub.loaders import engines  # noqa: E402
from modelhub.loaders.engines.onnx_engine import CHECK_BOUND, torch_hidden  # noqa: E402
from modelhub.loaders.engines.openvino_engine import (  # noqa: E402
    BIN_NAME,
    XML_NAME,
    OpenVinoEncoder,
    openvino_encoder,
)
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
    raise AssertionError("torch was loaded although the conversion was already there")


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


def test_output_equals_torch_within_1e4_in_float32_from_a_verified_folder(
    tiny_bert: Path, tmp_path: Path
) -> None:
    hf = _hf(tiny_bert)
    enc = openvino_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf))
    assert isinstance(enc, OpenVinoEncoder)
    assert (enc.name, enc.device, enc.dtype) == ("openvino", "cpu", "float32")
    # OpenVINO's own default on this kind of CPU (AVX512-BF16/AMX) would be bf16.
    assert (
        "float32" in str(enc.compiled.get_property("INFERENCE_PRECISION_HINT"))
        or str(enc.compiled.get_property("INFERENCE_PRECISION_HINT")) == "f32"
    )
    ids, mask, types = _batch()
    ref = torch_hidden(_torch(hf)(), ids, mask, types)
    got = enc(ids, mask, types)
    assert got.dtype == np.float32 and got.shape == ref.shape
    keep = mask.astype(bool)
    assert np.abs(ref[keep] - got[keep]).max() <= 1e-4
    # torch tensors are accepted too, and token_type_ids default to zeros
    assert np.array_equal(enc(torch.from_numpy(ids), torch.from_numpy(mask)), got)
    folder = _folder(tmp_path)
    assert folder.name.startswith("openvino-") and enc.path == folder / XML_NAME
    manifest = read_manifest(folder)
    assert manifest is not None and manifest["kind"] == "openvino"
    assert manifest["check"]["passed"] and manifest["check"]["max_abs"] <= CHECK_BOUND
    assert set(manifest["files"]) == {XML_NAME, BIN_NAME}
    assert manifest["versions"]["openvino"]
    assert check_folder(folder) == []


def test_second_load_uses_the_verified_conversion_without_torch(
    tiny_bert: Path, tmp_path: Path
) -> None:
    hf = _hf(tiny_bert)
    first = openvino_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf))
    assert first is not None
    folder = _folder(tmp_path)
    created = read_manifest(folder)["created"]  # type: ignore[index]
    again = openvino_encoder(hf, derived_dir=tmp_path, torch_model=_never)
    assert again is not None and again.path == first.path
    assert read_manifest(folder)["created"] == created  # type: ignore[index]
    # Only manifest-listed files are there: no compile cache (unverified compiled code).
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["derived.json", *read_manifest(folder)["files"]]  # type: ignore[index]
    )
    ids, mask, types = _batch()
    assert np.array_equal(first(ids, mask, types), again(ids, mask, types))
    assert check_folder(folder) == []


@pytest.mark.parametrize("member", [XML_NAME, BIN_NAME])
def test_a_damaged_conversion_is_never_loaded_but_converted_again(
    tiny_bert: Path, tmp_path: Path, member: str, caplog: pytest.LogCaptureFixture
) -> None:
    hf = _hf(tiny_bert)
    assert openvino_encoder(hf, derived_dir=tmp_path, torch_model=_torch(hf)) is not None
    target = _folder(tmp_path) / member
    data = bytearray(target.read_bytes())
    data[len(data) - 100] ^= 0xFF  # same size: only the SHA-256 tells
    target.write_bytes(bytes(data))
    loaded: list[bool] = []

    def counting():
        loaded.append(True)
        return _torch(hf)()

    with caplog.at_level(logging.WARNING):
        enc = openvino_encoder(hf, derived_dir=tmp_path, torch_model=counting)
    assert "damaged" in caplog.text and loaded
    assert enc is not None and check_folder(_folder(tmp_path)) == []
    ids, mask, types = _batch()
    ref = torch_hidden(_torch(hf)(), ids, mask, types)
    assert np.abs(ref - enc(ids, mask, types))[mask.astype(bool)].max() <= 1e-4


def test_failed_self_check_means_the_next_engine_once_warned_then_remembered(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hf = _hf(tiny_bert)
    (tmp_path / "other").mkdir()
    other = _hf(_save_tiny(tmp_path / "other" / "tiny", seed=5))
    derived = tmp_path / "derived"
    with caplog.at_level(logging.WARNING):
        assert openvino_encoder(hf, derived_dir=derived, torch_model=_torch(other)) is None
    assert "differs from torch" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert openvino_encoder(hf, derived_dir=derived, torch_model=_never) is None
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        forced = openvino_encoder(hf, engine="openvino", derived_dir=derived, torch_model=_never)
    assert forced is not None and "anyway" in caplog.text


def test_without_openvino_auto_skips_it_and_forcing_names_the_extra(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    hf = _hf(tiny_bert)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a)
    )
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert openvino_encoder(hf, derived_dir=tmp_path, torch_model=_never) is None
    with pytest.raises(EngineUnavailable, match=r"pip install 'modelhub\[openvino\]'"):
        openvino_encoder(hf, engine="openvino", derived_dir=tmp_path, torch_model=_never)
    assert list(tmp_path.iterdir()) == []


def test_no_derived_folder_auto_declines_forced_converts_for_this_load(
    tiny_bert: Path,
) -> None:
    hf = _hf(tiny_bert)
    assert openvino_encoder(hf, derived_dir=None, torch_model=_never) is None
    enc = openvino_encoder(hf, engine="openvino", derived_dir=None, torch_model=_torch(hf))
    assert enc is not None
    ids, mask, types = _batch()
    assert enc(ids, mask, types).shape == (3, 11, 32)


def test_pretrained_engine_openvino_and_auto_order(
    tiny_bert: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelhub

    assert "openvino" in engines.engine_names()
    texts = ["i hate cancer", "aspirin lowers the risk of myocardial infarction", ""]
    on_torch = modelhub.pretrained(tiny_bert, engine="torch")
    ov = modelhub.pretrained(tiny_bert, engine="openvino")
    assert ov.describe()["engine"] == "openvino" and ov.describe()["dtype"] == "float32"
    assert np.abs(ov.encode(texts) - on_torch.encode(texts)).max() <= 1e-5
    for x, y in zip(ov.embed(texts[:2]), on_torch.embed(texts[:2]), strict=True):
        assert x.tokens == y.tokens and np.abs(x.vectors - y.vectors).max() <= 1e-4
    # The conversion lives in the cache next to the ONNX export, keyed by the files' hashes.
    assert len(list((isolated_env / "derived" / "local").glob("*/openvino-*/model.xml"))) == 1
    # "auto" tries AUTO_ORDER, ONNX Runtime first as shipped: what the default runs.
    assert engines.AUTO_ORDER == ("onnx", "openvino")
    assert modelhub.pretrained(tiny_bert).describe()["engine"] == "onnx"
    monkeypatch.setattr(engines, "AUTO_ORDER", ("openvino", "onnx"))
    default = modelhub.pretrained(tiny_bert)
    assert default.describe()["engine"] == "openvino"
    assert np.array_equal(default.encode(texts), ov.encode(texts))
    # No place to keep a conversion: torch.
    assert modelhub.pretrained(tiny_bert, derived_dir=None).describe()["engine"] == "torch"
    # Without the openvino package, "auto" goes on to ONNX Runtime.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a)
    )
    assert modelhub.pretrained(tiny_bert).describe()["engine"] == "onnx"
    with pytest.raises(OptionError, match="engine='openvino' computes in float32"):
        modelhub.pretrained(tiny_bert, engine="openvino", dtype="bfloat16")
    with pytest.raises(OptionError, match="engine='openvino' runs on the CPU"):
        modelhub.pretrained(tiny_bert, engine="openvino", device="cuda")


def test_cache_verify_covers_the_conversion_and_rm_removes_it(
    tiny_bert: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelhub.derived import DERIVED_DIR
    from tests.cache.conftest import cli, install

    logger = logging.getLogger("modelhub")
    handlers, level = list(logger.handlers), logger.level
    try:
        files = {p.name: p.read_bytes() for p in tiny_bert.iterdir() if p.is_file()}
        entry = install("tiny_bert", files, engine="pytorch")
        derived = entry.dir / DERIVED_DIR
        hf = _hf(entry.path)
        assert openvino_encoder(hf, derived_dir=derived, torch_model=_torch(hf)) is not None
        rc, out, _err = cli("cache", "verify", "--all", capsys=capsys)
        assert rc == 0, out
        weights = next(derived.glob("openvino-*/model.bin"))
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x01
        weights.write_bytes(bytes(data))
        rc, out, _err = cli("cache", "verify", "--all", capsys=capsys)
        assert rc == 1 and "derived/openvino-" in out and "SHA-256 differs" in out
        rc, _out, _err = cli("cache", "rm", "tiny_bert", "--yes", capsys=capsys)
        assert rc == 0 and not entry.dir.exists()
    finally:
        for h in logger.handlers[:]:
            if h not in handlers:
                logger.removeHandler(h)
        logger.setLevel(level)


def test_threads_may_share_one_encoder(tiny_bert: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    hf = _hf(tiny_bert)
    enc = openvino_encoder(hf, engine="openvino", derived_dir=None, torch_model=_torch(hf))
    assert enc is not None
    ids, mask, types = _batch()
    want = enc(ids, mask, types)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: enc(ids, mask, types), range(16)))
    assert all(np.array_equal(g, want) for g in got)
