"""Cache behaviour: offline use, hits without network, quick checks vs full
verification and repair, locks, mirrors, and the store API maintenance uses."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from modelhub.errors import IntegrityError, NotCachedError
from modelhub.registry.artifact import Source
from modelhub.registry.pulling import pull_artifact, pull_result
from modelhub.registry.store.layout import LAST_USED_NAME, entry_id
from modelhub.registry.store.locks import ArtifactLock
from modelhub.registry.store.manifest import Manifest
from modelhub.registry.store.store import Store
from tests.fetch.conftest import FAST_RETRY, artifact, entry_files, sha256, store, visible_state


def _pulled(http_server, data: bytes = b"weights" * 1000, name: str = "m.bin"):
    art = artifact(Source("https", http_server.add(f"/{name}", data)))
    r = pull_result(art, retry=FAST_RETRY)
    return art, r


def test_offline_cached_entry_loads_without_any_network(http_server, no_network, monkeypatch):
    art, first = _pulled(http_server)
    no_network.on()
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    assert pull_artifact(art) == first.path
    assert pull_artifact(art, offline=True) == first.path


def test_offline_missing_entry_names_what_to_pull(http_server, no_network):
    no_network.on()
    art = artifact(Source("https", "https://example.org/x.zip"), name="ner_dl", lang="de")
    with pytest.raises(NotCachedError, match="modelhub pull ner_dl --lang de") as exc:
        pull_artifact(art, offline=True)
    assert exc.value.exit_code == 1
    assert store().lookup(art.key) is None


def test_complete_pinned_entry_never_touches_network_online(http_server, no_network):
    # installed by hand (as a previous pull would have), then pulled online
    art = artifact(Source("https", "http://127.0.0.1:9/never.bin"))
    st = store()
    st.install(
        art.key,
        _stage(st, art.key, {"never.bin": b"abc"}),
        Manifest(art.key, "", (_rec("never.bin", b"abc"),)),
    )
    assert st.set_pinned(art.key)
    no_network.on()
    r = pull_result(art, offline=False)
    assert r.cache_hit and r.entry.pinned and (r.path / "never.bin").read_bytes() == b"abc"
    assert no_network.calls == []


def _stage(st: Store, key: str, files: dict[str, bytes]):
    d = st.staging_dir(key)
    for name, data in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    return d


def _rec(name: str, data: bytes):
    from modelhub.registry.store.manifest import FileRecord

    return FileRecord(name, len(data), sha256(data))


def test_hit_checks_stamps_only_and_verify_repairs_one_byte(http_server):
    data = bytes(range(256)) * 4000
    art, first = _pulled(http_server, data)
    f = first.path / "m.bin"
    st = f.stat()
    raw = bytearray(f.read_bytes())
    raw[12345] ^= 0x01
    f.write_bytes(bytes(raw))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same stamp
    requests_before = http_server.requests["/m.bin"]
    hit = pull_result(art)
    assert hit.cache_hit and http_server.requests["/m.bin"] == requests_before  # not re-hashed
    fixed = pull_result(art, verify=True, retry=FAST_RETRY)
    assert not fixed.cache_hit and fixed.repaired
    assert http_server.requests["/m.bin"] > requests_before
    assert (fixed.path / "m.bin").read_bytes() == data
    assert pull_result(art, verify=True).cache_hit
    assert not first.path.exists()  # the damaged content dir went away


def test_size_or_stamp_change_is_noticed_on_a_hit(http_server):
    data = b"z" * 5000
    art, first = _pulled(http_server, data)
    (first.path / "m.bin").write_bytes(b"short")
    r = pull_result(art, retry=FAST_RETRY)
    assert not r.cache_hit and (r.path / "m.bin").read_bytes() == data


def test_damaged_entry_offline_is_not_cached(http_server):
    art, first = _pulled(http_server)
    (first.path / "m.bin").unlink()
    with pytest.raises(NotCachedError, match="damaged"):
        pull_artifact(art, offline=True)


def test_entry_without_manifest_does_not_exist(http_server):
    data = b"q" * 100
    art = artifact(Source("https", http_server.add("/q.bin", data)))
    st = store()
    st.ensure_layout()
    d = st.entry_dir(art.key) / "c-leftover"
    d.mkdir(parents=True)
    (d / "q.bin").write_bytes(b"half")
    assert st.lookup(art.key) is None
    assert st.entry_dir(art.key) in st.incomplete()["no_manifest"]
    r = pull_result(art, retry=FAST_RETRY)
    assert not r.cache_hit and (r.path / "q.bin").read_bytes() == data
    assert d in st.incomplete()["stale_content"]


def test_mirror_first_then_fall_through(http_server, tmp_path, monkeypatch, model_zip):
    data, files = model_zip
    zname = "ner_en_5.0.0_3.0_1.zip"
    url = http_server.add(f"/public/models/{zname}", data)
    mirror = tmp_path / "mirror"
    (mirror / "public/models").mkdir(parents=True)
    (mirror / "public/models" / zname).write_bytes(data)
    monkeypatch.setenv("MODELHUB_MIRROR", str(mirror))
    art = artifact(Source("https", url), zip_name=zname, folder="public/models")
    r = pull_result(art)
    assert r.source is not None and r.source.kind == "mirror" and entry_files(r.path) == files
    assert http_server.requests[f"/public/models/{zname}"] == 0
    # a corrupt mirror copy (checksum mismatch) falls through to HTTPS
    other = "pos_en_5.0.0_3.0_2.zip"
    (mirror / "public/models" / other).write_bytes(data[:-10] + b"0123456789")
    url2 = http_server.add(f"/public/models/{other}", data)
    import hashlib

    art2 = artifact(
        Source("https", url2),
        zip_name=other,
        folder="public/models",
        checksum=hashlib.md5(data).hexdigest(),
    )
    r2 = pull_result(art2, retry=FAST_RETRY)
    assert r2.source is not None and r2.source.kind == "https" and entry_files(r2.path) == files


def test_file_url_source_and_integrity_on_local_copy(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"local bytes")
    r = pull_result(artifact(Source("file", f.as_uri()), sha256=sha256(b"local bytes")))
    assert entry_files(r.path) == {"model.bin": b"local bytes"}
    with pytest.raises(IntegrityError):
        pull_result(artifact(Source("file", f.as_uri()), name="x", sha256="1" * 64))
    assert visible_state(store()) == {}


def test_store_api_for_maintenance(http_server):
    art, r = _pulled(http_server, b"abc" * 100)
    st = store()
    entries = list(st.entries())
    assert [e.key for e in entries] == [art.key]
    e = entries[0]
    assert e.manifest.size == 300 and e.manifest.artifact["record"]["name"] == "tiny_model"
    assert e.quick_check() == [] and e.verify() == []
    assert e.last_used is not None
    t = e.last_used
    st.record_use(e, now=t + 10)  # within the hour: not rewritten
    assert e.last_used == t
    st.record_use(e, now=t + 7200)
    assert e.last_used == t + 7200
    (e.dir / LAST_USED_NAME).write_text("{corrupt")
    assert e.last_used is None  # a corrupt record is not fatal
    assert not e.pinned and st.set_pinned(art.key) and st.lookup(art.key).pinned
    assert st.set_pinned(art.key, False) and not st.lookup(art.key).pinned
    assert st.remove(art.key) and st.lookup(art.key) is None and not r.path.exists()
    assert list(st.trash_dir.iterdir()) == []
    assert entry_id("public/models/a.zip") != entry_id("public--models/a.zip")


def test_cache_refuses_a_foreign_non_empty_directory(tmp_path, http_server, monkeypatch):
    from modelhub.errors import CacheError

    (tmp_path / "precious.txt").write_text("keep me")
    monkeypatch.setenv("MODELHUB_CACHE", str(tmp_path))
    with pytest.raises(CacheError, match="marker"):
        pull_result(artifact(Source("https", http_server.add("/z.bin", b"z"))))


def test_stale_lock_of_a_stuck_holder_is_taken_over(http_server, tmp_path):
    data = b"s" * 2000
    art = artifact(Source("https", http_server.add("/s.bin", data)))
    st = store()
    lock = st.lock(art.key)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, filelock; l = filelock.FileLock(sys.argv[1]); l.acquire();"
            "print('locked', flush=True); time.sleep(60)",
            str(lock.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        lock.info_path.write_text(
            json.dumps(
                {
                    "host": socket.gethostname(),
                    "pid": holder.pid,
                    "start": 0,
                    "updated": time.time(),
                }
            )
        )
        t0 = time.monotonic()
        r = pull_result(art, stale_after=0.5, retry=FAST_RETRY)
        assert 0.4 < time.monotonic() - t0 < 10
        assert (r.path / "s.bin").read_bytes() == data
    finally:
        holder.kill()
        holder.wait()


def test_dead_holder_on_this_host_is_stale(tmp_path):
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = int(p.stdout)
    lock = ArtifactLock(tmp_path / "x.lock", tmp_path / "x.json", stale_after=1e9)
    assert lock._is_stale({"host": socket.gethostname(), "pid": dead, "updated": time.time()})
    assert not lock._is_stale(
        {"host": socket.gethostname(), "pid": os.getppid(), "updated": time.time()}
    )


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("umask", [0o077, 0o022], ids=["umask077", "umask022"])
def test_shared_cache_modes_do_not_depend_on_the_umask(http_server, umask):
    """Another member of the group must be able to add partials, pin, record
    use and take leases: the directories they write into are group-writable,
    locks and leases group-writable, files group-readable, whatever the umask."""
    from modelhub.registry.files import DIR_MODE, FILE_MODE, LOCK_MODE, SHARED_DIR_MODE

    assert SHARED_DIR_MODE & 0o070 == 0o070 and LOCK_MODE & 0o060 == 0o060
    assert FILE_MODE & 0o040 and DIR_MODE & 0o050 == 0o050
    old = os.umask(umask)
    try:
        art, r = _pulled(http_server, b"g" * 5000)
        st = store()
        eid = entry_id(art.key)
        partial = st.open_partial(art.key, "https://example.test/other")
        lease = st.lease(art.key)
        assert st.set_pinned(art.key)
        try:
            for d in (
                st.root,
                st.entries_dir,
                st.downloads_dir,
                st.locks_dir,
                st.tmp_dir,
                st.trash_dir,
                st.entries_dir / eid,
                st.downloads_dir / eid,
            ):
                assert _mode(d) == SHARED_DIR_MODE, (d, oct(_mode(d)))
            for f in (st.locks_dir / f"{eid}.lock", st.locks_dir / f"{eid}.use"):
                assert _mode(f) == LOCK_MODE, (f, oct(_mode(f)))
            for f in (
                r.path / "m.bin",
                st.entries_dir / eid / "manifest.json",
                st.entries_dir / eid / LAST_USED_NAME,
                st.entries_dir / eid / "pinned",
                partial.path,
                partial.sidecar_path,
            ):
                assert _mode(f) == FILE_MODE, (f, oct(_mode(f)))
            assert _mode(r.path) == DIR_MODE
        finally:
            lease.release()
            partial.discard()
    finally:
        os.umask(old)


@pytest.mark.parametrize("where", ["downloads", "locks", "tmp", "entries"])
def test_a_cache_directory_we_cannot_write_is_a_clear_error(http_server, monkeypatch, where):
    """What a group member without write access sees: the path and what to
    check, not a traceback of a PermissionError (simulated: tests run as root)."""
    from modelhub.errors import CacheError

    art = artifact(Source("https", http_server.add("/p.bin", b"p" * 100)))
    st = store()
    st.ensure_layout()
    denied = getattr(st, f"{where}_dir")
    real_open, real_mkdir = os.open, os.mkdir

    def check(path) -> None:
        if os.fspath(path).startswith(os.fspath(denied) + os.sep):
            raise PermissionError(13, "Permission denied", os.fspath(path))

    def fake_open(path, *a, **kw):
        check(path)
        return real_open(path, *a, **kw)

    def fake_mkdir(path, *a, **kw):
        check(path)
        return real_mkdir(path, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    with pytest.raises(CacheError) as exc:
        pull_result(art, retry=FAST_RETRY)
    msg = str(exc.value)
    assert os.fspath(denied) in msg and "group" in msg and "permission" in msg.lower(), msg
