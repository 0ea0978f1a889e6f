"""`cache verify --repair` replaces only the bad files, from real local
servers; readers of the old files are not disturbed."""

from __future__ import annotations

import os

import modelhub.cache as cache
from modelhub.registry.artifact import Source
from modelhub.registry.pulling import pull_result
from tests.cache.conftest import cli, store
from tests.fetch.conftest import FAST_RETRY, artifact, make_zip


def _corrupt_keeping_stamp(path):
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_repair_zip_entry_replaces_only_the_bad_file(http_server, capsys):
    files = {"a.bin": b"a" * 30000, "b.bin": bytes(range(256)) * 100, "meta/c.txt": b"c" * 10}
    zname = "ner_rep_en_5.0.0_3.0_1.zip"
    url = http_server.add(f"/public/models/{zname}", make_zip(files))
    art = artifact(Source("https", url), name="ner_rep", zip_name=zname, folder="public/models")
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


def test_repair_hf_entry_downloads_only_the_bad_file(hf_hub, capsys):
    repo = "org/tiny"
    files = {
        "config.json": b'{"hidden_size": 4}',
        "vocab.txt": b"a\nb\n",
        "model.safetensors": b"w" * 50000,
    }
    hf_hub.add_repo(repo, files)
    art = artifact(Source("hf", repo), name="tiny_hf")
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


def test_repair_without_a_reachable_source_reports_and_keeps_the_entry(http_server, capsys):
    url = http_server.add("/gone.bin", b"g" * 1000)
    art = artifact(Source("https", url), name="gone")
    first = pull_result(art, retry=FAST_RETRY)
    _corrupt_keeping_stamp(first.path / "gone.bin")
    del http_server.objects["/gone.bin"]  # the source now answers 404
    rc, out, _ = cli("cache", "verify", "gone", "--repair", capsys=capsys)
    assert rc == 1 and "FAILED TO REPAIR gone" in out
    assert store().lookup(art.key).path == first.path  # still there, still reported damaged
