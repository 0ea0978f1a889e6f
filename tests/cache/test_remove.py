"""`modelhub cache prune/rm/clear/pin/unpin` and the same Python API."""

from __future__ import annotations

import os
import time

import modelhub.cache as cache
from modelhub.registry.store.layout import entry_id
from tests.cache.conftest import cli, cli_json, install, run_cli, store

DAY = 86400.0


def _names() -> list[str]:
    return sorted(f"{e.name}:{e.version}" for e in cache.entries(check=False))


def test_prune_lru_by_own_record_pins_and_superseded(capsys):
    now = time.time()
    install("a", {"f": b"a" * 1000}, last_used=now - 40 * DAY)
    install("b", {"f": b"b" * 1000}, last_used=now - 10 * DAY)
    install("c", {"f": b"c" * 1000}, last_used=now - 1 * DAY)
    pinned = install("p", {"f": b"p" * 1000}, last_used=now - 90 * DAY)
    store().set_pinned(pinned.key)
    # atime is not what counts: reading a's file now changes nothing
    os.utime(store().lookup(install("a", {"f": b"a" * 1000}).key).path / "f")

    rc, data = cli_json("cache", "prune", "--older-than", "30d", "--dry-run", capsys=capsys)
    assert rc == 0 and [r["name"] for r in data["planned"]] == ["a"]
    assert data["would_free"] == 1000 and data["freed"] == 0
    assert {s["name"]: s["reason"] for s in data["skipped"]} == {"p": "pinned"}
    assert _names() == ["a:5.0.0", "b:5.0.0", "c:5.0.0", "p:5.0.0"]  # dry run: nothing gone

    rc, out, _ = cli("cache", "prune", "--older-than", "30d", "--yes", capsys=capsys)
    assert rc == 0 and "removed: a en 5.0.0" in out and "freed 1000 B" in out
    assert _names() == ["b:5.0.0", "c:5.0.0", "p:5.0.0"]

    # --max-size: least recently used first until it fits; pinned kept
    rc, data = cli_json("cache", "prune", "--max-size", "2500B", "--yes", capsys=capsys)
    assert [r["name"] for r in data["removed"]] == ["b"]
    assert _names() == ["c:5.0.0", "p:5.0.0"]
    report = cache.prune(max_size=0, keep_pinned=False)
    assert sorted(r.name for r in report.removed) == ["c", "p"] and report.freed == 2000
    assert _names() == []

    install("n", {"f": b"1" * 10}, version="4.0.0")
    install("n", {"f": b"2" * 10}, version="5.1.0")
    install("n", {"f": b"3" * 10}, version="5.1.0", lang="de")
    report = cache.prune(superseded=True)
    assert [(r.name, r.version, r.reason) for r in report.removed] == [
        ("n", "4.0.0", "superseded by 5.1.0")
    ]
    assert _names() == ["n:5.1.0", "n:5.1.0"]


def test_prune_removes_partials_and_orphans_older_than_a_day_only(capsys):
    st = store()
    st.ensure_layout()
    old = time.time() - 2 * DAY
    d = st.downloads_dir / entry_id("public/models/x.zip")
    d.mkdir()
    for name, t in (("old", old), ("new", None)):
        (d / f"{name}.part").write_bytes(b"p" * 100)
        (d / f"{name}.json").write_text("{}")
        if t:
            os.utime(d / f"{name}.part", (t, t))
    busy = d / "busy.part"
    busy.write_bytes(b"b" * 100)
    os.utime(busy, (old, old))
    import fcntl

    fd = os.open(busy, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live writer
    tmp_old = st.tmp_dir / "k-1.aaaa"
    tmp_old.mkdir()
    (tmp_old / "x").write_bytes(b"x")
    os.utime(tmp_old, (old, old))
    tmp_new = st.tmp_dir / "k-1.bbbb"
    tmp_new.mkdir()
    try:
        rc, data = cli_json("cache", "prune", "--yes", capsys=capsys)
    finally:
        os.close(fd)
    assert rc == 0
    removed = sorted(os.path.basename(r["path"]) for r in data["removed"])
    assert removed == ["k-1.aaaa", "old.part"]
    assert {os.path.basename(s["path"]): s["reason"] for s in data["skipped"]} == {
        "busy.part": "being written"
    }
    assert sorted(p.name for p in d.iterdir()) == ["busy.part", "new.json", "new.part"]
    assert tmp_new.exists() and not tmp_old.exists()


def test_rm_versions_languages_and_exit_codes(capsys):
    install("ner", {"f": b"1"}, version="4.0.0")
    install("ner", {"f": b"2"}, version="5.0.0")
    install("ner", {"f": b"3"}, lang="fr")
    install("pos", {"f": b"4"})
    rc, out, err = cli("cache", "rm", "ner", "--yes", capsys=capsys)
    assert rc == 2 and "3 cached" in err and "--all-versions" in err
    assert len(_names()) == 4
    rc, out, err = cli("cache", "rm", "nope", "--yes", capsys=capsys)
    assert rc == 1 and "no cached entry matches nope" in err
    rc, out, _ = cli("cache", "rm", "ner", "--lang", "fr", "--dry-run", capsys=capsys)
    assert rc == 0 and "would remove: ner fr 5.0.0" in out and len(_names()) == 4
    rc, data = cli_json(
        "cache", "rm", "ner", "--lang", "en", "--version", "4.0", "--yes", capsys=capsys
    )
    assert rc == 0 and [r["version"] for r in data["removed"]] == ["4.0.0"]
    rc, data = cli_json("cache", "rm", "ner", "--all-versions", "--yes", capsys=capsys)
    assert rc == 0 and len(data["removed"]) == 2
    assert _names() == ["pos:5.0.0"]
    report = cache.remove("pos", "en")
    assert [r.name for r in report.removed] == ["pos"] and _names() == []


def test_pin_unpin_and_clear(capsys):
    a = install("a", {"f": b"a" * 10})
    install("b", {"f": b"b" * 10})
    rc, out, _ = cli("cache", "pin", "a", capsys=capsys)
    assert rc == 0 and "pinned: a en 5.0.0" in out and store().lookup(a.key).pinned
    assert cache.prune(max_size=0).removed[0].name == "b"
    rc, data = cli_json("cache", "unpin", "a", capsys=capsys)
    assert rc == 0 and data[0]["pinned"] is False and not store().lookup(a.key).pinned
    rc, _, _ = cli("cache", "pin", "zzz", capsys=capsys)
    assert rc == 1
    install("c", {"f": b"c"})
    store().set_pinned(a.key)
    st = store()
    (st.tmp_dir / "k.1234").mkdir()
    rc, data = cli_json("cache", "clear", "--dry-run", capsys=capsys)
    assert rc == 0 and len(data["planned"]) == 3 and len(_names()) == 2
    rc, data = cli_json("cache", "clear", "--yes", capsys=capsys)
    assert rc == 0 and data["freed"] == 11 and _names() == []
    assert list(st.tmp_dir.iterdir()) == [] and list(st.trash_dir.iterdir()) == []
    assert st.has_marker() and (st.root / "CACHEDIR.TAG").is_file()


def test_destructive_commands_refuse_without_yes_when_stdin_is_not_a_terminal():
    install("keep", {"f": b"k" * 10})
    for args in (("prune", "--max-size", "0"), ("rm", "keep"), ("clear",)):
        r = run_cli("cache", *args)
        assert r.returncode == 2, r.stderr
        assert "--yes" in r.stderr and "not a terminal" in r.stderr
    assert _names() == ["keep:5.0.0"]
    r = run_cli("cache", "prune", "--max-size", "0", "--dry-run")
    assert r.returncode == 0 and "would free 10 B" in r.stdout and _names() == ["keep:5.0.0"]
    r = run_cli("cache", "rm", "keep", "--yes", "--json")
    assert r.returncode == 0 and _names() == []


def test_sizes_and_durations():
    assert cache.parse_size("20GB") == 20 << 30 and cache.parse_size("0") == 0
    assert cache.parse_size("1.5m") == 3 << 19 and cache.parse_size("500MiB") == 500 << 20
    assert cache.parse_duration("30d") == 30 * DAY and cache.parse_duration("90m") == 5400
    assert cache.parse_duration("7", bare="d") == 7 * DAY
    import pytest

    with pytest.raises(ValueError):
        cache.parse_size("lots")
