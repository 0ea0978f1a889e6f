"""`modelhub cache ls/du/verify/dir` on real entries made by the store."""

from __future__ import annotations

import os
import time

from modelhub.registry.store.layout import entry_id
from tests.cache.conftest import cli, cli_json, install, store


def _leftovers(st, *, age: float = 0.0) -> None:
    """A partial download and an orphaned staging directory, ``age`` seconds old."""
    d = st.downloads_dir / entry_id("public/models/gone_en_1.zip")
    d.mkdir(parents=True)
    (d / "abc.part").write_bytes(b"p" * 5000)
    (d / "abc.json").write_text('{"url": "https://example.org/gone.zip"}')
    tmp = st.tmp_dir / f"{entry_id('public/models/x.zip')}.123456"
    tmp.mkdir()
    (tmp / "half").write_bytes(b"t" * 3000)
    if age:
        t = time.time() - age
        for p in (d / "abc.part", tmp):
            os.utime(p, (t, t))


def test_ls_one_row_per_entry_with_totals(capsys):
    now = time.time()
    a = install("ner_dl", {"a.bin": b"a" * 1000, "meta/x": b"x"}, last_used=now - 3600)
    install("pos_anc", {"p.bin": b"p" * 50}, lang="de", version="4.4.0", source="https")
    b = install("bert_base", {"w": b"w" * 20000}, engine="onnx", last_used=now)
    store().set_pinned(b.key)
    (a.path / "a.bin").write_bytes(b"short")  # size no longer matches
    _leftovers(store())

    rc, data = cli_json("cache", "ls", capsys=capsys)
    assert rc == 0
    rows = {r["name"]: r for r in data["entries"]}
    assert [r["name"] for r in data["entries"]] == ["bert_base", "ner_dl", "pos_anc"]
    assert rows["ner_dl"]["status"] == "failed verification"
    assert rows["ner_dl"]["problems"][0]["path"] == "a.bin"
    p = rows["pos_anc"]
    assert (p["language"], p["version"], p["source"], p["engine"], p["size"], p["status"]) == (
        "de",
        "4.4.0",
        "https",
        "tensorflow",
        50,
        "complete",
    )
    assert rows["bert_base"]["pinned"] and rows["bert_base"]["engine"] == "onnx"
    assert abs(rows["bert_base"]["last_used"] - now) < 1
    assert rows["pos_anc"]["last_used"] is None  # never handed out by pull()
    [inc] = data["incomplete"]
    assert inc["status"] == "incomplete download" and inc["name"] == "gone_en_1.zip"
    t = data["totals"]
    assert (t["entries"], t["size"], t["pinned"]) == (3, 1001 + 50 + 20000, 1)
    assert (t["partials"], t["orphans"]) == (1, 1) and t["orphans_size"] == 3000

    rc, out, _ = cli("cache", "ls", "--sort", "size", capsys=capsys)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "LANG", "VERSION"]
    assert [ln.split()[0] for ln in lines[1:4]] == ["bert_base", "ner_dl", "pos_anc"]
    assert "incomplete download" in out and "failed verification" in out
    assert "3 entries" in out and "partial downloads: 1" in out
    assert "orphaned temporary files: 1" in out

    rc, data = cli_json("cache", "ls", "--filter", "POS", capsys=capsys)
    assert [r["name"] for r in data["entries"]] == ["pos_anc"]
    rc, data = cli_json("cache", "ls", "--sort", "last-used", capsys=capsys)
    assert data["entries"][0]["name"] == "bert_base"
    rc, bare, _ = cli("cache", capsys=capsys)  # `modelhub cache` alone lists
    assert rc == 0 and "bert_base" in bare and "3 entries" in bare


def test_ls_and_du_on_an_empty_or_missing_cache(capsys, isolated_env):
    assert not isolated_env.exists()
    rc, out, _ = cli("cache", "ls", capsys=capsys)
    assert rc == 0 and "no cached models" in out
    rc, data = cli_json("cache", "du", capsys=capsys)
    assert rc == 0 and data["total"] == 0
    assert not isolated_env.exists()  # looking creates nothing
    rc, out, _ = cli("cache", "dir", capsys=capsys)
    assert out.strip() == str(isolated_env)


def test_du_per_source_per_model_and_reclaimable(capsys):
    install("ner_dl", {"a": b"1" * 1000}, version="4.0.0", source="s3")
    install("ner_dl", {"a": b"2" * 3000}, version="5.0.0", source="s3")
    old = install("ner_dl", {"a": b"3" * 700}, version="3.0.0", source="https")
    store().set_pinned(old.key)  # pinned: not counted as reclaimable
    install("ner_dl", {"a": b"4" * 100}, lang="fr", version="3.0.0")  # another language
    _leftovers(store())
    rc, d = cli_json("cache", "du", capsys=capsys)
    assert rc == 0
    assert d["entries"] == 4800 and d["per_source"] == {"s3": 4100, "https": 700}
    models = {(m["name"], m["language"]): m for m in d["per_model"]}
    assert models[("ner_dl", "en")] == {
        "name": "ner_dl",
        "language": "en",
        "versions": 3,
        "size": 4700,
    }
    r = d["reclaimable"]
    assert r["superseded"] == 1000  # 4.0.0 (5.0.0 is newer; 3.0.0 is pinned)
    assert r["partials"] >= 4096 and r["orphans"] == 3000
    assert r["total"] == r["superseded"] + r["partials"] + r["orphans"]
    assert d["total"] == 4800 + r["partials"] + r["orphans"] + d["catalog"]
    rc, out, _ = cli("cache", "du", capsys=capsys)
    assert "per source:" in out and "reclaimable:" in out and "superseded versions" in out


def test_verify_reports_each_bad_file_offline(capsys, no_network):
    good = install("good", {"a": b"a" * 5000, "b": b"b" * 10})
    bad = install("bad", {"x": b"x" * 4000, "y": b"y" * 4000, "z": b"z"})
    no_network.on()
    # Same size, same stamp: only a full re-hash can see it.
    f = bad.path / "x"
    st = f.stat()
    f.write_bytes(b"X" + b"x" * 3999)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    rc, data = cli_json("cache", "ls", capsys=capsys)
    assert {r["name"]: r["status"] for r in data["entries"]}["bad"] == "complete"  # quick check
    rc, out, _ = cli("cache", "verify", "--all", capsys=capsys)
    assert rc == 1
    assert "BAD  bad en 5.0.0: x: sha256 (expected " in out
    assert "good" not in out.replace("verified", "") and "1 damaged" in out
    # ls now knows the damage verify found (recorded in the entry)
    rc, data = cli_json("cache", "ls", capsys=capsys)
    assert {r["name"]: r["status"] for r in data["entries"]}["bad"] == "failed verification"
    rc, data = cli_json("cache", "verify", "good", capsys=capsys)
    assert rc == 0 and data["ok"] and data["entries"] == 1 and data["bytes"] == 5010
    assert good.verify() == []
    (bad.path / "z").unlink()
    rc, data = cli_json("cache", "verify", "bad", capsys=capsys)
    assert rc == 1 and [p["path"] for p in data["results"][0]["problems"]] == ["x", "z"]
    assert data["results"][0]["problems"][1]["problem"] == "missing"
    rc, out, err = cli("cache", "verify", capsys=capsys)
    assert rc == 2 and "--all" in err
    rc, out, err = cli("cache", "verify", "nonesuch", capsys=capsys)
    assert rc == 1


def test_corrupt_last_used_record_is_rebuilt_not_fatal(capsys):
    e = install("m", {"a": b"a"}, last_used=time.time() - 7200)
    (e.dir / "last-used").write_text("{garbage")
    rc, data = cli_json("cache", "ls", capsys=capsys)
    assert rc == 0 and data["entries"][0]["last_used"] is None
    st = store()
    st.record_use(st.lookup(e.key))
    assert abs(st.lookup(e.key).last_used - time.time()) < 5
    t = st.lookup(e.key).last_used
    st.record_use(st.lookup(e.key), now=t + 60)  # within the hour: not rewritten
    assert st.lookup(e.key).last_used == t
    # only the record itself is there: written atomically, no temp files left
    assert sorted(p.name for p in e.dir.iterdir() if not p.name.startswith("c-")) == [
        "last-used",
        "manifest.json",
    ]
