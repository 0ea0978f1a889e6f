"""Safety: entries in use are never removed, removal is atomic for readers,
links are never followed, a directory without the marker is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import modelhub.cache as cache
from modelhub.errors import CacheError
from tests.cache.conftest import REPO_ROOT, cli, cli_json, install, run_cli, store
from tests.cardgen import embeddings_card, imported_from_hf, write_card


def test_a_directory_without_the_marker_is_refused(tmp_path, monkeypatch, capsys):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    (precious / "entries").mkdir()
    (precious / "entries" / "notes").write_text("mine")
    for root in (precious, Path("/")):
        monkeypatch.setenv("MODELHUB_CACHE", str(root))
        for args in (
            ("clear", "--yes"),
            ("prune", "--max-size", "0", "--yes"),
            ("rm", "thesis", "--yes"),
            ("ls",),
        ):
            rc, _, err = cli("cache", *args, capsys=capsys)
            assert rc == 2 and "no .modelhub-cache marker" in err, (root, args)
        with pytest.raises(CacheError):
            cache.clear()
    assert (precious / "thesis.tex").read_text() == "keep me"
    assert (precious / "entries" / "notes").read_text() == "mine"
    assert sorted(p.name for p in precious.iterdir()) == ["entries", "thesis.tex"]
    r = run_cli("cache", "clear", "--yes", env={"MODELHUB_CACHE": str(precious)})
    assert r.returncode == 2 and (precious / "thesis.tex").exists()


def test_links_inside_the_cache_are_never_followed(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"s" * 100)
    victim = install("victim", {"w.bin": b"w" * 10})
    # a full copy of an entry outside, linked into entries/
    fake = outside / "fake-entry"
    fake.mkdir()
    for p in victim.dir.iterdir():
        if p.is_file():
            (fake / p.name).write_bytes(p.read_bytes())
    (fake / victim.manifest.content).mkdir()
    (fake / victim.manifest.content / "w.bin").write_bytes(b"w" * 10)
    st = store()
    (st.entries_dir / "evil-00000000").symlink_to(fake)
    # a file of a real entry replaced by a link to something outside
    real = install("real", {"f.bin": b"r" * 10})
    (real.path / "f.bin").unlink()
    (real.path / "f.bin").symlink_to(outside / "secret.bin")
    d = st.downloads_dir / "x-1"
    d.mkdir()
    (d / "abc.part").symlink_to(outside / "secret.bin")
    (st.tmp_dir / "t-1.abcd").symlink_to(outside)
    before = sorted(str(p) for p in outside.rglob("*"))

    rc, data = cli_json("cache", "verify", "real", capsys=capsys)
    assert rc == 1 and data["results"][0]["problems"][0]["problem"] == "missing"
    rc, data = cli_json("cache", "ls", capsys=capsys)
    assert sorted(r["name"] for r in data["entries"]) == ["real", "victim"]
    assert data["totals"]["orphans"] >= 3  # the links, counted as themselves
    rc, data = cli_json("cache", "prune", "--max-size", "0", "--yes", capsys=capsys)
    assert rc == 0
    rc, data = cli_json("cache", "clear", "--yes", capsys=capsys)
    assert rc == 0 and cache.entries() == []
    assert sorted(str(p) for p in outside.rglob("*")) == before
    assert (outside / "secret.bin").read_bytes() == b"s" * 100
    assert list(st.entries_dir.iterdir()) == [] and list(st.tmp_dir.iterdir()) == []
    # a cache whose own entries/ is a link is refused outright
    os.rmdir(st.entries_dir)
    st.entries_dir.symlink_to(outside)
    rc, _, err = cli("cache", "clear", "--yes", capsys=capsys)
    assert rc == 2 and "symbolic link" in err
    assert sorted(str(p) for p in outside.rglob("*")) == before


def test_an_entry_with_a_lease_is_skipped_and_reported(capsys):
    busy = install("busy", {"f": b"b" * 100})
    install("idle", {"f": b"i" * 100})
    lease = store().lease(busy.key)
    try:
        rc, data = cli_json("cache", "prune", "--max-size", "0", "--yes", capsys=capsys)
        assert rc == 0 and [r["name"] for r in data["removed"]] == ["idle"]
        assert [(s["name"], s["reason"]) for s in data["skipped"]] == [("busy", "in use")]
        rc, out, _ = cli("cache", "rm", "busy", "--yes", capsys=capsys)
        assert rc == 1 and "kept: busy" in out and "in use" in out
        rc, data = cli_json("cache", "clear", "--yes", capsys=capsys)
        assert [s["reason"] for s in data["skipped"]] == ["in use"]
        assert store().lookup(busy.key) is not None
    finally:
        lease.release()
    assert [r.name for r in cache.prune(max_size=0).removed] == ["busy"]


def test_removal_is_atomic_for_readers_holding_leases():
    """A reader that takes its lease, looks the entry up and reads every file
    sees a whole entry or none, while another thread removes and reinstalls it."""
    files = {f"f{i}": bytes([i]) * 20000 for i in range(8)}
    key = install("churn", files).key
    stop = threading.Event()
    seen = {"whole": 0, "none": 0, "half": 0}

    def reader() -> None:
        st = store()
        while not stop.is_set():
            with st.lease(key):
                e = st.lookup(key)
                if e is None:
                    seen["none"] += 1
                    continue
                try:
                    ok = all((e.path / n).read_bytes() == d for n, d in files.items())
                except OSError:
                    ok = False
                seen["whole" if ok else "half"] += 1

    t = threading.Thread(target=reader)
    t.start()
    removed = 0
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and removed < 20:
            removed += len(cache.remove("churn").removed)
            if store().lookup(key) is None:
                install("churn", files)
    finally:
        stop.set()
        t.join()
    assert seen["half"] == 0 and removed > 0 and seen["whole"] > 0


LOADER = r"""
import json, sys
import modelhub
model = modelhub.pretrained("tiny_cache_test", "en", dtype="float32", loader="bert")
print(json.dumps({"path": str(model.hf.root) if hasattr(model, "hf") else ""}), flush=True)
sys.stdin.readline()
r = model.embed(["hello world"])
print(json.dumps({"tokens": r[0].tokens}), flush=True)
"""


@pytest.mark.slow
def test_loader_process_keeps_its_entry_through_prune_and_rm(hf_hub, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from tests.loaders.conftest import _save_tiny

    model_dir = _save_tiny(tmp_path / "tiny")
    repo = "tests/tiny-cache-bert"
    hf_hub.add_repo(repo, {p.name: p.read_bytes() for p in model_dir.iterdir() if p.is_file()})
    cards = tmp_path / "cards"
    write_card(
        cards,
        "2023-11-14-tiny_cache_test_en.md",
        embeddings_card(
            "tiny_cache_test",
            title="Tiny BERT (cache test card)",
            description=imported_from_hf(repo),
        ),
    )
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    env = {**os.environ}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    loader = subprocess.Popen(
        [sys.executable, "-c", LOADER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        line = loader.stdout.readline()  # the model is loaded and held
        assert line, loader.stderr.read()
        [entry] = cache.entries()
        assert entry.name == "tiny_cache_test"
        r = run_cli("cache", "prune", "--max-size", "0", "--yes", "--json")
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert report["removed"] == [] and report["skipped"][0]["reason"] == "in use"
        r = run_cli("cache", "rm", "tiny_cache_test", "--yes")
        assert r.returncode == 1 and "in use" in r.stdout
        assert entry.path is not None and entry.path.is_dir()
        out, err = loader.communicate("go\n", timeout=60)
        assert loader.returncode == 0, err
        assert json.loads(out)["tokens"] == ["hello", "world"]
    finally:
        if loader.poll() is None:
            loader.kill()
            loader.wait()
    r = run_cli("cache", "prune", "--max-size", "0", "--yes", "--json")
    assert r.returncode == 0 and [x["name"] for x in json.loads(r.stdout)["removed"]] == [
        "tiny_cache_test"
    ]
    assert cache.entries() == [] and not entry.path.exists()
