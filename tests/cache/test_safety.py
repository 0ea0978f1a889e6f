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
from modelhub.registry.files import refused_cache_root
from modelhub.registry.store.store import Store
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


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _user_files_under_cache_names(root: Path) -> dict[str, bytes]:
    """A user's directory that only uses names modelhub uses at a cache root."""
    (root / "downloads").mkdir(parents=True)
    (root / "downloads" / "report.pdf").write_bytes(b"%PDF report")
    project = root / "tmp" / "project"
    project.mkdir(parents=True)
    (project / "main.py").write_text("print('mine')")
    (root / "entries").mkdir()
    (root / "entries" / "notes.txt").write_text("mine too")
    old = time.time() - 3 * 86400
    for p in (project / "main.py", project, root / "downloads" / "report.pdf"):
        os.utime(p, (old, old))
    return _files(root)


def test_a_markerless_directory_with_cache_names_is_refused(tmp_path, monkeypatch, capsys):
    """Names alone (entries/, downloads/, tmp/) do not make a cache: without the
    marker nothing in them is deleted, and nothing adopts the directory."""
    mine = tmp_path / "mine"
    before = _user_files_under_cache_names(mine)
    # the audit's reproduction, as a real process
    r = run_cli("cache", "prune", "--yes", env={"MODELHUB_CACHE": str(mine)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert str(mine) in r.stderr and "no .modelhub-cache marker" in r.stderr
    assert "Traceback" not in r.stderr
    assert _files(mine) == before
    monkeypatch.setenv("MODELHUB_CACHE", str(mine))
    for args in (
        ("prune", "--yes"),
        ("prune", "--max-size", "0", "--older-than", "0d", "--yes"),
        ("clear", "--yes"),
        ("rm", "report", "--yes"),
        ("verify", "--all", "--repair"),
        ("pin", "report"),
        ("unpin", "report"),
        ("ls",),
        ("du",),
        ("verify", "--all"),
    ):
        rc, _, err = cli("cache", *args, capsys=capsys)
        assert rc == 2 and str(mine) in err and "no .modelhub-cache marker" in err, (args, err)
    for call in (cache.prune, cache.clear, cache.entries, lambda: cache.pin("report")):
        with pytest.raises(CacheError, match=r"no \.modelhub-cache marker"):
            call()
    # a pull does not adopt it either (it would write the marker)
    with pytest.raises(CacheError, match="marker"):
        store().ensure_layout()
    assert _files(mine) == before
    assert not (mine / ".modelhub-cache").exists()
    assert sorted(p.name for p in mine.iterdir()) == ["downloads", "entries", "tmp"]


def test_a_new_cache_without_its_marker_yet_is_still_used(tmp_path, monkeypatch, capsys):
    """An empty directory, or what a first pull leaves before the marker (the
    catalog index, empty layout directories, lock files), is taken as a cache."""
    fresh = tmp_path / "fresh"
    for d in ("entries", "downloads", "tmp", "trash"):
        (fresh / d).mkdir(parents=True)
    (fresh / "catalog").mkdir()
    (fresh / "catalog" / "index-abc.mhx").write_bytes(b"index")
    (fresh / "locks").mkdir()
    (fresh / "locks" / "x-00000000.use").write_bytes(b"")
    monkeypatch.setenv("MODELHUB_CACHE", str(fresh))
    rc, data = cli_json("cache", "prune", "--max-size", "0", "--yes", capsys=capsys)
    assert rc == 0 and data["removed"] == []
    assert cache.entries() == []
    install("first", {"f": b"f"})
    assert (fresh / ".modelhub-cache").is_file()
    assert [e.name for e in cache.entries()] == ["first"]
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MODELHUB_CACHE", str(empty))
    rc, data = cli_json("cache", "clear", "--yes", capsys=capsys)
    assert rc == 0 and data["removed"] == []


def test_first_pulls_racing_into_a_new_cache_all_use_it(tmp_path, monkeypatch):
    """Two first pulls at once (threads, or Spark workers on a shared cache):
    one may look while the other's marker is still under its temporary name.
    That is a cache being made, not a user's folder; before this was known,
    the second pull was refused with "not a modelhub cache"."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    in_flight = fresh / "..modelhub-cache.0123456789ab.tmp"
    in_flight.write_bytes(b"")  # what the other writer holds before its rename
    monkeypatch.setenv("MODELHUB_CACHE", str(fresh))
    install("first", {"f": b"f"})
    assert [e.name for e in cache.entries()] == ["first"]

    # the same, for real: threads switching as often as they can
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_ in range(40):
            root = tmp_path / f"race{round_}"
            failures: list[object] = []

            def first_use(root: Path = root, failures: list[object] = failures) -> None:
                try:
                    # the catalog asks the same question before writing its index
                    refused = refused_cache_root(root)
                    if refused is not None:
                        failures.append(f"the catalog refuses {root}: {refused}")
                    Store(root).ensure_layout()
                except BaseException as exc:
                    failures.append(exc)

            threads = [threading.Thread(target=first_use) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert failures == [], failures
            assert (root / ".modelhub-cache").is_file()
    finally:
        sys.setswitchinterval(previous)


def test_a_marker_like_name_that_is_not_a_write_in_flight_is_still_foreign(tmp_path, monkeypatch):
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    for i, (name, make) in enumerate(
        (
            ("..modelhub-cache.0123456789ab.tmp", Path.mkdir),  # a folder, not a write
            ("..modelhub-cache.mine.tmp", Path.touch),  # not the temporary's shape
            (".other.0123456789ab.tmp", Path.touch),  # some other file's temporary
            # a link under the temporary's name: a write never leaves one
            ("..modelhub-cache.0123456789ab.tmp", lambda p: p.symlink_to(precious)),
        )
    ):
        root = tmp_path / f"root{i}"
        root.mkdir()
        make(root / name)
        monkeypatch.setenv("MODELHUB_CACHE", str(root))
        with pytest.raises(CacheError, match=r"no \.modelhub-cache marker"):
            store().ensure_layout()
        assert [p.name for p in root.iterdir()] == [name]
    assert precious.read_text() == "mine"


def test_unknown_files_inside_a_cache_are_never_deleted(capsys):
    """Only ``*.part`` files (and their sidecars) are partial downloads; a
    plain file where modelhub keeps directories is reported, never removed."""
    install("kept", {"f": b"k" * 10})
    st = store()
    old = time.time() - 3 * 86400
    foreign = [
        st.downloads_dir / "report.pdf",
        st.downloads_dir / "x-12345678" / "notes.txt",
        st.entries_dir / "notes.txt",
    ]
    for p in foreign:
        p.parent.mkdir(exist_ok=True)
        p.write_text("mine")
        os.utime(p, (old, old))
    part = st.downloads_dir / "x-12345678" / "abc.part"
    part.write_bytes(b"p" * 100)
    part.with_suffix(".json").write_text(json.dumps({"url": "https://example.test/x"}))
    os.utime(part, (old, old))
    inv = cache.inventory(check=False)
    assert [x.path for x in inv.partials] == [part]
    assert sorted(x.path for x in inv.unknown) == sorted(foreign)
    assert not any(x.path in foreign for x in inv.leftovers)
    rc, data = cli_json("cache", "ls", capsys=capsys)
    assert rc == 0 and data["totals"]["unknown"] == len(foreign)
    rc, out, _ = cli("cache", "ls", capsys=capsys)
    assert rc == 0 and "3 files modelhub did not make" in out
    rc, data = cli_json("cache", "prune", "--max-size", "0", "--yes", capsys=capsys)
    assert rc == 0 and str(part) in [r["path"] for r in data["removed"]]
    assert not part.exists() and not part.with_suffix(".json").exists()
    rc, data = cli_json("cache", "clear", "--yes", capsys=capsys)
    assert rc == 0 and cache.entries() == []
    assert all(p.read_text() == "mine" for p in foreign)


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
