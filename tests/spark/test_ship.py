"""Packing a verified cache entry on the driver and installing it on an
executor: every byte checked against the driver's manifest, nothing left in
the cache on a mismatch. No Spark needed."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from modelhub.errors import IntegrityError
from modelhub.registry.store.manifest import Entry, FileRecord, Manifest
from modelhub.registry.store.store import Store
from modelhub.spark.ship import install_packed, pack_entry

FILES = {"config.json": b'{"hidden_size": 32}', "sub/model.bin": bytes(range(256)) * 100}
KEY = "public/models/tiny_en_5.0.0_3.0_1.zip"


def _entry(root: Path, files: dict[str, bytes] = FILES) -> Entry:
    store = Store(root, fsync=False)
    staged = store.staging_dir(KEY)
    records = []
    for name, data in files.items():
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_bytes(data)
        records.append(FileRecord(name, len(data), hashlib.sha256(data).hexdigest()))
    return store.install(KEY, staged, Manifest(key=KEY, content="", files=tuple(records)))


def _leftovers(store: Store) -> list[Path]:
    return [p for paths in store.incomplete().values() for p in paths]


def test_round_trip_installs_a_verified_entry(tmp_path: Path) -> None:
    entry = _entry(tmp_path / "driver")
    packed = pack_entry(entry, tmp_path / "entry.tar")
    executor = Store(tmp_path / "executor", fsync=False)
    done = install_packed(executor, entry.manifest, packed)
    assert done.installed
    assert executor.lookup(KEY) is not None and done.entry.verify() == []
    assert {
        f.path: (f.path and (done.entry.path / f.path).read_bytes()) for f in entry.manifest.files
    } == FILES
    # A second install finds the complete entry and does nothing.
    again = install_packed(executor, entry.manifest, packed)
    assert not again.installed and again.entry.path == done.entry.path


def test_a_corrupted_shipment_installs_nothing(tmp_path: Path) -> None:
    entry = _entry(tmp_path / "driver")
    packed = pack_entry(entry, tmp_path / "entry.tar")
    data = bytearray(packed.read_bytes())
    at = data.index(bytes(range(256)))  # inside sub/model.bin
    data[at + 7] ^= 0xFF
    packed.write_bytes(bytes(data))
    executor = Store(tmp_path / "executor", fsync=False)
    with pytest.raises(IntegrityError, match=r"sub/model\.bin .* does not match"):
        install_packed(executor, entry.manifest, packed)
    assert executor.lookup(KEY) is None
    assert _leftovers(executor) == []


def test_members_outside_the_manifest_are_refused(tmp_path: Path) -> None:
    entry = _entry(tmp_path / "driver")
    packed = tmp_path / "evil.tar"
    with tarfile.open(packed, "w") as tar:
        for f in entry.manifest.files:
            tar.add(entry.path / f.path, f.path)
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    executor = Store(tmp_path / "executor", fsync=False)
    with pytest.raises(IntegrityError, match="not in the manifest"):
        install_packed(executor, entry.manifest, packed)
    assert executor.lookup(KEY) is None and not (tmp_path / "escape.txt").exists()


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    entry = _entry(tmp_path / "driver")
    packed = tmp_path / "short.tar"
    with tarfile.open(packed, "w") as tar:
        tar.add(entry.path / "config.json", "config.json")
    executor = Store(tmp_path / "executor", fsync=False)
    with pytest.raises(IntegrityError, match="lacks 1 file"):
        install_packed(executor, entry.manifest, packed)
    assert executor.lookup(KEY) is None


def test_the_driver_refuses_to_ship_a_damaged_entry(tmp_path: Path) -> None:
    entry = _entry(tmp_path / "driver")
    target = entry.path / "sub" / "model.bin"
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))  # same size: only the hash can tell
    with pytest.raises(IntegrityError, match="sha256 differs"):
        pack_entry(entry, tmp_path / "entry.tar")
    assert not (tmp_path / "entry.tar").exists()
    target.write_bytes(bytes(data[:-1]))
    with pytest.raises(IntegrityError, match=r"shorter|size"):
        pack_entry(entry, tmp_path / "entry.tar")
    assert list(tmp_path.glob("*.tar")) == [] and list(tmp_path.glob(".*tmp")) == []


def test_an_entry_with_other_content_is_replaced(tmp_path: Path) -> None:
    entry = _entry(tmp_path / "driver")
    packed = pack_entry(entry, tmp_path / "entry.tar")
    # The executor's cache holds another revision under the same key.
    _entry(tmp_path / "executor", {"config.json": b"{}"})
    executor = Store(tmp_path / "executor", fsync=False)
    done = install_packed(executor, entry.manifest, packed)
    assert done.installed and done.entry.verify() == []
    assert len(done.entry.manifest.files) == 2
