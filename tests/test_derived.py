"""Derived folders (modelhub/derived.py): whole or absent, verified, and safe
when two processes derive the same folder at once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from modelhub.derived import (
    STALE_TMP_AFTER,
    check_folder,
    read_manifest,
    repair_tree,
    verify_tree,
    write_folder,
)


def _writer(payload: bytes, barrier: threading.Barrier | None = None):
    def build(tmp: Path) -> dict:
        (tmp / "model.onnx").write_bytes(payload)
        if barrier is not None:
            barrier.wait(timeout=30)  # both writers hold a finished temp copy
        return {"kind": "test"}

    return build


def test_a_folder_appears_whole_with_sizes_and_hashes(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, "onnx-abc", _writer(b"x" * 1000))
    assert folder == tmp_path / "onnx-abc"
    manifest = read_manifest(folder)
    assert manifest is not None and manifest["kind"] == "test"
    assert manifest["files"]["model.onnx"]["size"] == 1000
    assert check_folder(folder) == []
    assert [p.name for p in tmp_path.iterdir()] == ["onnx-abc"]  # no temp left


def test_two_writers_at_once_leave_one_complete_folder(tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    results: list[Path] = []
    errors: list[BaseException] = []

    def run(payload: bytes) -> None:
        try:
            results.append(write_folder(tmp_path, "onnx-k", _writer(payload, barrier)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(bytes([i]) * 4096,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [tmp_path / "onnx-k"] * 2
    assert [p.name for p in tmp_path.iterdir()] == ["onnx-k"]
    assert check_folder(tmp_path / "onnx-k") == []  # one writer's bytes, whole


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def build(tmp: Path) -> dict:
        (tmp / "model.onnx").write_bytes(b"half")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError):
        write_folder(tmp_path, "onnx-x", build)
    assert list(tmp_path.iterdir()) == []


def test_damage_is_found_by_size_by_hash_and_stamp_mode_trusts_an_untouched_file(
    tmp_path: Path,
) -> None:
    folder = write_folder(tmp_path, "onnx-d", _writer(b"abcdefgh" * 100))
    graph = folder / "model.onnx"
    st = graph.stat()
    data = bytearray(graph.read_bytes())
    data[10] ^= 1
    graph.write_bytes(bytes(data))
    assert any("SHA-256" in p for p in check_folder(folder))
    assert any("SHA-256" in p for p in check_folder(folder, hashes="stamp"))  # rewritten
    # A flip that keeps the mtime (damage in place) passes the quick check; verify sees it.
    os.utime(graph, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert check_folder(folder, hashes="stamp") == []
    assert check_folder(folder) != []
    graph.write_bytes(bytes(data[:100]))
    assert any("bytes" in p for p in check_folder(folder, hashes="stamp"))


def test_verify_tree_reports_damage_and_leftovers_and_repair_removes_them(
    tmp_path: Path,
) -> None:
    good = write_folder(tmp_path, "onnx-good", _writer(b"g" * 10))
    bad = write_folder(tmp_path, "onnx-bad", _writer(b"b" * 10))
    (bad / "model.onnx").write_bytes(b"b" * 9)
    stale = tmp_path / ".tmp-onnx-old-1-aa"
    stale.mkdir()
    old = time.time() - STALE_TMP_AFTER - 10
    os.utime(stale, (old, old))
    fresh = tmp_path / ".tmp-onnx-now-2-bb"  # another process is exporting right now
    fresh.mkdir()
    (tmp_path / "source.json").write_text("{}")
    found = verify_tree(tmp_path)
    assert {p.path for p in found} == {bad, stale}
    repair_tree(found)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [good.name, fresh.name, "source.json"]
    )
    assert verify_tree(tmp_path) == []
    assert verify_tree(tmp_path / "absent") == []
