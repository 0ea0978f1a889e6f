"""`cache verify --repair` replaces only the bad files, from real local
servers; readers of the old files are not disturbed."""

from __future__ import annotations

import os

import pytest

import modelhub.cache as cache
from modelhub.registry.artifact import Artifact
from modelhub.registry.catalog.resolve import reset_default_catalog, resolve
from modelhub.registry.pulling import pull_result
from tests.cache.conftest import cli, store
from tests.cardgen import embeddings_card, imported_from_hf, s3_url, write_card
from tests.fetch.conftest import FAST_RETRY, make_zip

BUCKET = "auxdata.johnsnowlabs.com"


@pytest.fixture
def cards(tmp_path, monkeypatch, http_server):
    """A card folder the catalog reads, with the S3 endpoint on the local
    server: repair fetches only from the sources the catalog gives."""
    folder = tmp_path / "cards"
    folder.mkdir()
    monkeypatch.setenv("MODELHUB_CARDS", str(folder))
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", http_server.base)
    for var, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(var, value)
    reset_default_catalog()
    yield folder
    reset_default_catalog()


def _cataloged(cards, name: str, *, download: str | None = None, hf: str | None = None) -> Artifact:
    description = "A repair test model." + (f" {imported_from_hf(hf)}" if hf else "")
    card = embeddings_card(name, title=name, description=description, download=download)
    write_card(cards, f"2023-11-14-{name}_en.md", card)
    reset_default_catalog()
    return resolve(name, "en")


def _corrupt_keeping_stamp(path):
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_repair_zip_entry_replaces_only_the_bad_file(http_server, cards, capsys):
    files = {"a.bin": b"a" * 30000, "b.bin": bytes(range(256)) * 100, "meta/c.txt": b"c" * 10}
    zname = "ner_rep_en_5.0.0_3.0_1.zip"
    http_server.add(f"/{BUCKET}/public/models/{zname}", make_zip(files))
    art = _cataloged(cards, "ner_rep", download=s3_url(zname))
    first = pull_result(art, retry=FAST_RETRY)
    old = first.path
    inode_a = (old / "a.bin").stat().st_ino
    _corrupt_keeping_stamp(old / "b.bin")
    reader = open(old / "meta/c.txt", "rb")  # noqa: SIM115  (a reader of the old directory)
    lease = store().lease(art.key)  # ... that holds the entry open
    try:
        rc, out, _ = cli("cache", "verify", "ner_rep", capsys=capsys)
        assert rc == 1 and "b.bin: sha256" in out
        rc, out, _ = cli("cache", "verify", "ner_rep", "--repair", capsys=capsys)
        assert rc == 0, out
        assert "REPAIRED ner_rep en" in out and "replaced b.bin" in out
        new = store().lookup(art.key)
        assert new.path != old and new.verify() == []
        assert {p: (new.path / p).read_bytes() for p in files} == files
        assert (new.path / "a.bin").stat().st_ino == inode_a  # good files kept, not copied
        assert old.is_dir() and reader.read() == b"c" * 10  # old files stay while in use
    finally:
        reader.close()
        lease.release()
    report = cache.prune()  # the old directory goes once nobody uses the entry
    assert [r.kind for r in report.removed] == ["stale_content"] and not old.exists()
    assert cache.verify("ner_rep").ok


def test_repair_hf_entry_downloads_only_the_bad_file(hf_hub, cards, capsys):
    repo = "org/tiny"
    files = {
        "config.json": b'{"hidden_size": 4}',
        "vocab.txt": b"a\nb\n",
        "model.safetensors": b"w" * 50000,
    }
    hf_hub.add_repo(repo, files)
    art = _cataloged(cards, "tiny_hf", hf=repo)
    first = pull_result(art, retry=FAST_RETRY)
    assert first.entry.manifest.kind == "hf"
    gets_before = dict(hf_hub.gets)
    _corrupt_keeping_stamp(first.path / "model.safetensors")
    (first.path / "vocab.txt").unlink()
    report = cache.verify("tiny_hf", repair=True)
    [r] = report.results
    assert r.repaired and sorted(r.replaced) == ["model.safetensors", "vocab.txt"]
    fetched = {k: hf_hub.gets[k] - gets_before.get(k, 0) for k in hf_hub.gets}
    assert fetched == {
        f"{repo}/model.safetensors": 1,
        f"{repo}/vocab.txt": 1,
        f"{repo}/config.json": 0,
    }
    entry = store().lookup(art.key)
    assert entry.verify() == [] and (entry.path / "vocab.txt").read_bytes() == b"a\nb\n"
    assert not first.path.exists()  # nobody used it: the old directory went at once


def test_repair_without_a_reachable_source_reports_and_keeps_the_entry(http_server, cards, capsys):
    zname = "gone_en_5.0.0_3.0_1.zip"
    http_server.add(f"/{BUCKET}/public/models/{zname}", make_zip({"gone.bin": b"g" * 1000}))
    art = _cataloged(cards, "gone", download=s3_url(zname))
    first = pull_result(art, retry=FAST_RETRY)
    _corrupt_keeping_stamp(first.path / "gone.bin")
    del http_server.objects[f"/{BUCKET}/public/models/{zname}"]  # the source now answers 404
    rc, out, _ = cli("cache", "verify", "gone", "--repair", capsys=capsys)
    assert rc == 1 and "FAILED TO REPAIR gone" in out
    assert store().lookup(art.key).path == first.path  # still there, still reported damaged
