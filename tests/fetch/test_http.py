"""HTTP sources against the fault-injection server: ranges, resume, retries,
verification, and what the cache looks like afterwards."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
import threading
import time

import pytest

from modelhub.errors import (
    AccessDenied,
    CacheError,
    ConfigError,
    FetchError,
    IntegrityError,
    ModelNotFound,
)
from modelhub.registry.artifact import Source
from modelhub.registry.fetch.sources.http import warn_plain_http
from modelhub.registry.fetch.transport import RetryPolicy
from modelhub.registry.pulling import pull_artifact, pull_result
from tests.fetch.conftest import FAST_RETRY, artifact, entry_files, sha256, store, visible_state

MiB = 1 << 20


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELHUB_CHUNK_MB", "0.25")  # 256 KiB chunks: many ranges on small data


def blob(n: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(n)


def pull(art, **kw):
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("connections", 4)
    return pull_result(art, **kw)


def test_plain_file_lands_in_a_directory_with_manifest_and_tags(http_server, isolated_env):
    data = blob(3 * MiB)
    art = artifact(Source("https", http_server.add("/models/vocab.bin", data)))
    r = pull(art)
    assert not r.cache_hit
    assert entry_files(r.path) == {"vocab.bin": data}
    # ranged: several 206 GETs, the object crossed the wire once
    statuses = [e[3] for e in http_server.gets("/models/vocab.bin")]
    assert statuses.count(206) == 12 and http_server.bytes_sent["/models/vocab.bin"] == len(data)
    m = r.entry.manifest
    assert [(f.path, f.size, f.sha256) for f in m.files] == [("vocab.bin", len(data), sha256(data))]
    assert m.download["sha256"] == sha256(data)
    root = isolated_env
    assert (
        (root / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )
    assert (root / ".modelhub-cache").is_file()
    assert stat.S_IMODE((r.path / "vocab.bin").stat().st_mode) & 0o040  # group-readable
    lock = next((root / "locks").glob("*.lock"))
    assert stat.S_IMODE(lock.stat().st_mode) & 0o060 == 0o060  # group-writable
    assert visible_state(store()) == {}


def test_second_pull_is_a_cache_hit_with_one_log_line(http_server, caplog):
    art = artifact(Source("https", http_server.add("/a.bin", blob(1000))))
    caplog.set_level(logging.INFO, logger="modelhub")
    pull(art)
    n = http_server.requests["/a.bin"]
    r = pull(art)
    assert r.cache_hit and http_server.requests["/a.bin"] == n
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "modelhub.registry.pulling"]
    assert lines[0].startswith("downloaded tiny_model (en)") and lines[1].startswith("cache hit")


def test_server_without_ranges_is_read_as_one_stream(http_server):
    data = blob(2 * MiB, 2)
    art = artifact(Source("https", http_server.add("/x.bin", data, ranges=False)))
    assert entry_files(pull(art).path) == {"x.bin": data}
    assert [e[3] for e in http_server.gets("/x.bin")] == [200]


@pytest.mark.parametrize("fault", ["drop", "500", "truncate"])
def test_transient_faults_are_retried_and_bytes_are_exact(http_server, fault):
    data = blob(2 * MiB, 3)
    url = http_server.add("/f.bin", data)
    http_server.fault("/f.bin", fault)
    r = pull(artifact(Source("https", url), sha256=sha256(data)))
    assert entry_files(r.path) == {"f.bin": data}
    assert len(http_server.gets("/f.bin")) == 8 + 1  # 8 ranges + the retried one


def test_429_honours_retry_after(http_server):
    data = blob(100_000, 4)
    url = http_server.add("/r.bin", data)
    http_server.fault("/r.bin", "429", retry_after=1)
    t0 = time.monotonic()
    r = pull(artifact(Source("https", url)))
    assert time.monotonic() - t0 >= 0.95
    assert entry_files(r.path) == {"r.bin": data}
    assert [e[3] for e in http_server.gets("/r.bin")] == [429, 206]


def test_retries_are_bounded(http_server):
    url = http_server.add("/down.bin", blob(1000))
    for _ in range(10):
        http_server.fault("/down.bin", "503")
    with pytest.raises(FetchError, match="after 3 attempts") as exc:
        pull(artifact(Source("https", url)), retry=RetryPolicy(attempts=3, base=0.01, cap=0.01))
    assert exc.value.url == url
    assert http_server.requests["/down.bin"] == 3
    assert store().lookup("tiny_model_en") is None


def test_retries_are_bounded_in_time(http_server):
    url = http_server.add("/slow.bin", blob(1000))
    for _ in range(10):
        http_server.fault("/slow.bin", "429", retry_after=5)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="exceed"):
        pull(artifact(Source("https", url)), retry=RetryPolicy(attempts=9, total=2.0))
    assert time.monotonic() - t0 < 1.5


def test_200_instead_of_206_restarts_cleanly(http_server):
    data = blob(MiB, 5)
    url = http_server.add("/n.bin", data)
    http_server.fault("/n.bin", "none")  # the first probe is fine
    http_server.fault("/n.bin", "no-range")  # then a 200 with the whole body
    r = pull(artifact(Source("https", url), sha256=sha256(data)), connections=1)
    assert entry_files(r.path) == {"n.bin": data}
    statuses = [e[3] for e in http_server.gets("/n.bin")]
    assert statuses[:2] == [206, 200] and statuses[2:] == [206] * 4
    assert r.entry.manifest.download["restarts"] == 1


def test_wrong_bytes_raise_integrity_error_and_install_nothing(http_server):
    data = blob(MiB, 6)
    url = http_server.add("/bad.bin", data, corrupt=True)
    with pytest.raises(IntegrityError) as exc:
        pull(artifact(Source("https", url), sha256=sha256(data)))
    e = exc.value
    assert e.artifact == "tiny_model" and e.expected == sha256(data) and e.actual
    assert e.actual != e.expected and "tiny_model" in str(e) and e.expected in str(e)
    st = store()
    assert st.lookup("tiny_model_en") is None
    assert visible_state(st) == {}  # the bad bytes were deleted


def test_catalog_md5_checksum_is_checked(http_server):
    data = blob(300_000, 7)
    url = http_server.add("/c.bin", data)
    good = hashlib.md5(data).hexdigest()
    r = pull(artifact(Source("https", url), checksum=good))
    assert "md5 (catalog checksum)" in r.entry.manifest.download["checked"]
    with pytest.raises(IntegrityError, match="MD5") as exc:
        pull(artifact(Source("https", url), name="other", checksum="0" * 32))
    assert exc.value.expected == "0" * 32 and exc.value.actual == good


def test_s3_style_etag_and_checksum_header_are_checked(http_server):
    data = blob(200_000, 8)
    md5 = hashlib.md5(data).hexdigest()
    b64 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    s3_headers = {"x-amz-request-id": "1", "x-amz-checksum-sha256": b64}
    url = http_server.add("/s3like.bin", data, headers=s3_headers)
    http_server.objects["/s3like.bin"].etag = f'"{md5}"'
    r = pull(artifact(Source("https", url)))
    assert {"md5 (S3 ETag)", "x-amz-checksum-sha256"} <= set(r.entry.manifest.download["checked"])
    # Like S3, the server sends the checksum only to a HEAD (or whole GET)
    # asking for it, never on the ranged GETs: it came from the HEAD.
    assert [e[0] for e in http_server.log if e[1] == "/s3like.bin"][-1] == "HEAD"
    # the same headers with corrupted bytes: caught without any catalog checksum
    url2 = http_server.add("/s3bad.bin", data, headers=s3_headers, corrupt=True)
    http_server.objects["/s3bad.bin"].etag = f'"{md5}"'
    with pytest.raises(IntegrityError, match="x-amz-checksum-sha256") as exc:
        pull(artifact(Source("https", url2), name="bad"))
    assert exc.value.expected == b64 and exc.value.actual != b64


def test_404_names_the_url(http_server):
    url = http_server.url("/nothing.zip")
    with pytest.raises(ModelNotFound) as exc:
        pull(artifact(Source("https", url)))
    assert exc.value.url == url and url in str(exc.value)


def test_403_on_private_folder_talks_about_credentials(http_server):
    url = http_server.add("/clinical/models/ner.zip", b"x")
    http_server.fault("/clinical/models/ner.zip", "403")
    art = artifact(Source("https", url), folder="clinical/models", zip_name="ner.zip")
    with pytest.raises(AccessDenied, match="credentials") as exc:
        pull(art)
    assert exc.value.status == 403


def test_interrupted_download_resumes_with_if_range(http_server):
    data = blob(2 * MiB, 9)
    url = http_server.add("/big.bin", data)
    art = artifact(Source("https", url), sha256=sha256(data))

    class Stop(Exception):
        pass

    def stop_half_way(done: int, total: int | None) -> None:
        if done >= MiB:
            raise Stop

    with pytest.raises(Stop):
        pull(art, connections=1, progress=stop_half_way)
    assert store().lookup("tiny_model_en") is None
    sent_before = http_server.bytes_sent["/big.bin"]
    http_server.log.clear()
    r = pull(art, connections=2)
    assert entry_files(r.path) == {"big.bin": data}
    assert r.entry.manifest.download["resumed"] is True
    assert http_server.bytes_sent["/big.bin"] - sent_before <= len(data) - MiB + 256 * 1024
    first = http_server.gets("/big.bin")[0]
    assert first[2] != "bytes=0-262143" and first[3] == 206


def test_changed_object_restarts_cleanly(http_server):
    old, new = blob(2 * MiB, 10), blob(2 * MiB, 11)
    url = http_server.add("/chg.bin", old)

    def stop(done: int, total: int | None) -> None:
        if done >= MiB:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        pull(artifact(Source("https", url)), connections=1, progress=stop)
    http_server.add("/chg.bin", new)  # new ETag: If-Range makes the server send 200
    r = pull(artifact(Source("https", url), sha256=sha256(new)))
    assert entry_files(r.path) == {"chg.bin": new}
    assert r.entry.manifest.download["restarts"] >= 1


@pytest.mark.parametrize("validator", ["none", "last-modified"])
def test_changed_object_without_etag_is_never_spliced(http_server, validator):
    # Same size, no ETag: only If-Range with the Last-Modified date, or
    # starting from zero, keeps the new object's bytes apart from the old.
    old, new = blob(2 * MiB, 19), blob(2 * MiB, 20)
    t0 = time.time() - 3600 if validator == "last-modified" else None
    url = http_server.add("/noetag.bin", old, etag=False, last_modified=t0)

    def stop(done: int, total: int | None) -> None:
        if done >= MiB:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        pull(artifact(Source("https", url)), connections=1, progress=stop)
    http_server.add("/noetag.bin", new, etag=False, last_modified=t0 and t0 + 60)
    http_server.log.clear()
    r = pull(artifact(Source("https", url)))  # no pinned sha256: the bytes must be right as is
    assert entry_files(r.path) == {"noetag.bin": new}
    d = r.entry.manifest.download
    assert d["resumed"] is False and d["restarts"] >= 1
    first = http_server.gets("/noetag.bin")[0]
    if validator == "none":
        assert first[2] == "bytes=0-262143"  # nothing to resume against: no resume asked
    else:
        assert first[2] != "bytes=0-262143" and first[3] == 200  # If-Range date refused


def test_unchanged_object_without_etag_resumes_on_last_modified(http_server):
    data = blob(2 * MiB, 21)
    url = http_server.add("/lm.bin", data, etag=False, last_modified=time.time() - 3600)
    art = artifact(Source("https", url), sha256=sha256(data))

    def stop(done: int, total: int | None) -> None:
        if done >= MiB:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        pull(art, connections=1, progress=stop)
    sent = http_server.bytes_sent["/lm.bin"]
    r = pull(art)
    assert entry_files(r.path) == {"lm.bin": data}
    assert r.entry.manifest.download["resumed"] is True
    assert http_server.bytes_sent["/lm.bin"] - sent <= len(data) - MiB + 256 * 1024


def test_416_restarts_cleanly(http_server):
    url = http_server.add("/shrink.bin", blob(2 * MiB, 12))

    def stop(done: int, total: int | None) -> None:
        if done >= 1.5 * MiB:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        pull(artifact(Source("https", url)), connections=1, progress=stop)
    small = blob(1000, 13)
    old_etag = http_server.objects["/shrink.bin"].etag
    http_server.add("/shrink.bin", small)
    http_server.objects["/shrink.bin"].etag = old_etag  # a server that keeps the validator
    r = pull(artifact(Source("https", url)))
    assert entry_files(r.path) == {"shrink.bin": small}
    assert 416 in [e[3] for e in http_server.gets("/shrink.bin")]


def test_progress_callback_reports_bytes(http_server):
    data = blob(MiB, 14)
    seen: list[tuple[int, int | None]] = []
    pull(
        artifact(Source("https", http_server.add("/p.bin", data))),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_disk_full_is_a_clean_error(http_server, monkeypatch):
    import errno

    import modelhub.registry.fetch.download as dl

    real = os.pwrite
    written = [0]

    def pwrite(fd: int, data: bytes, off: int) -> int:
        written[0] += len(data)
        if written[0] > 600_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, off)

    monkeypatch.setattr(dl.os, "pwrite", pwrite)
    url = http_server.add("/full.bin", blob(MiB, 15))
    with pytest.raises(CacheError, match="disk full"):
        pull(artifact(Source("https", url)))
    st = store()
    assert st.lookup("tiny_model_en") is None and visible_state(st) == {}


def test_zip_is_extracted(http_server, model_zip):
    data, files = model_zip
    url = http_server.add("/public/models/bert_en_5.0.0_3.0_1700000000000.zip", data)
    art = artifact(
        Source("https", url), zip_name="bert_en_5.0.0_3.0_1700000000000.zip", folder="public/models"
    )
    path = pull_artifact(art)
    assert entry_files(path) == files
    e = store().lookup(art.key)
    assert e is not None and e.manifest.kind == "zip" and e.key.endswith(".zip")
    assert sorted(f.path for f in e.manifest.files) == sorted(files)


def test_plain_http_warning_only_for_remote_hosts(caplog):
    caplog.set_level(logging.WARNING)
    warn_plain_http("http://127.0.0.1:9/x")
    warn_plain_http("http://localhost:9/x")
    assert not caplog.records
    warn_plain_http("http://mirror.example.org/x.zip")
    assert "plain http" in caplog.text


def test_throttled_connections_grow_beyond_the_start(http_server):
    # 1 MiB/s per response: two connections are the limit, so the engine adds more.
    data = blob(2 * MiB, 16)
    url = http_server.add("/slow.bin", data, rate=MiB)
    workers: set[str] = set()

    def seen(done: int, total: int | None) -> None:
        workers.add(threading.current_thread().name)

    r = pull(artifact(Source("https", url), sha256=sha256(data)), connections=8, progress=seen)
    assert entry_files(r.path) == {"slow.bin": data}
    assert len(workers) > 2, workers
    assert http_server.bytes_sent["/slow.bin"] == len(data)


@pytest.mark.parametrize("direct", ["1", "0"])
@pytest.mark.parametrize("chunk_mb", ["0.25", "0.1"])  # 0.1 MiB: ranges off the 4 KiB grid
def test_bytes_are_exact_with_and_without_direct_io(http_server, monkeypatch, direct, chunk_mb):
    monkeypatch.setenv("MODELHUB_DIRECT_IO", direct)
    monkeypatch.setenv("MODELHUB_CHUNK_MB", chunk_mb)
    data = blob(3 * MiB + 12345, 17)
    url = http_server.add("/d.bin", data)
    http_server.fault("/d.bin", "none")
    http_server.fault("/d.bin", "truncate")  # a short body mid-range, resumed off the grid
    r = pull(artifact(Source("https", url), sha256=sha256(data)))
    assert entry_files(r.path) == {"d.bin": data}
    assert r.entry.manifest.download["sha256"] == sha256(data)
    assert visible_state(store()) == {}


def test_interrupted_download_keeps_only_written_chunks(http_server):
    # Chunks are recorded done only once written: after an interruption the
    # resumed download still ends with exact bytes and fetches the rest once.
    data = blob(4 * MiB, 18)
    url = http_server.add("/w.bin", data)
    art = artifact(Source("https", url), sha256=sha256(data))

    def stop(done: int, total: int | None) -> None:
        if done >= 2 * MiB:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        pull(art, connections=4, progress=stop)
    sent = http_server.bytes_sent["/w.bin"]
    r = pull(art, connections=4)
    assert entry_files(r.path) == {"w.bin": data}
    assert r.entry.manifest.download["resumed"] is True
    assert http_server.bytes_sent["/w.bin"] - sent < len(data)


def test_a_sidecar_whose_part_was_never_made_is_cleared(http_server):
    # A process killed between writing the sidecar and creating the part
    # leaves only the sidecar: the next pull removes it and downloads afresh.
    from modelhub.registry.store.layout import entry_id

    data = blob(1 * MiB, 19)
    url = http_server.add("/o.bin", data)
    art = artifact(Source("https", url), sha256=sha256(data))
    st = store()
    st.ensure_layout()
    d = st.downloads_dir / entry_id(art.key)
    d.mkdir()
    (d / "0123456789abcdef.json").write_text(f'{{"url": "{url}"}}')
    r = pull(art)
    assert entry_files(r.path) == {"o.bin": data}
    assert not (d / "0123456789abcdef.json").exists()
    assert not list(d.glob("*.part"))


@pytest.mark.parametrize("fsync", ["1", "0"])
def test_downloads_flush_to_disk_only_when_entries_are_fsynced(http_server, monkeypatch, fsync):
    # The flushes during a download only make the install's fsync cheap:
    # with MODELHUB_FSYNC=0 there is no fsync, so no flushing either.
    from modelhub.registry.fetch import download

    calls = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd))[1])
    monkeypatch.setattr(download, "FLUSH_EVERY", 256 * 1024)
    monkeypatch.setenv("MODELHUB_DIRECT_IO", "0")
    monkeypatch.setenv("MODELHUB_FSYNC", fsync)
    data = blob(2 * MiB, 20)
    url = http_server.add("/s.bin", data)
    r = pull(artifact(Source("https", url), sha256=sha256(data)))
    assert entry_files(r.path) == {"s.bin": data}
    assert (len(calls) > 0) == (fsync == "1")


def test_a_stalled_connection_times_out_and_is_retried(http_server, monkeypatch):
    monkeypatch.setenv("MODELHUB_READ_TIMEOUT", "0.5")
    data = blob(2 * MiB, 21)
    url = http_server.add("/st.bin", data)
    # half a range, then silence for far longer than the read timeout
    http_server.fault("/st.bin", "stall", seconds=30)
    t0 = time.monotonic()
    r = pull(artifact(Source("https", url), sha256=sha256(data)))
    assert time.monotonic() - t0 < 15
    assert entry_files(r.path) == {"st.bin": data}
    assert len(http_server.gets("/st.bin")) == 8 + 1  # 8 ranges + the retried one


def test_a_bad_read_timeout_is_a_config_error(http_server, monkeypatch):
    monkeypatch.setenv("MODELHUB_READ_TIMEOUT", "soon")
    url = http_server.add("/t.bin", blob(1000))
    with pytest.raises(ConfigError, match="MODELHUB_READ_TIMEOUT='soon'"):
        pull(artifact(Source("https", url)))


@pytest.mark.parametrize(
    ("env", "value", "problem"),
    [
        ("MODELHUB_CONNECTIONS", "eight", "is not a number"),
        ("MODELHUB_CHUNK_MB", "0", "must be more than 0"),
        ("MODELHUB_LOCK_STALE", "-5", "must be more than 0"),
    ],
)
def test_a_bad_download_setting_is_a_config_error(http_server, monkeypatch, env, value, problem):
    monkeypatch.setenv(env, value)
    url = http_server.add("/t.bin", blob(1000))
    with pytest.raises(ConfigError, match=f"{env} .*'{value}' {problem}"):
        pull_result(artifact(Source("https", url)), retry=FAST_RETRY)
    monkeypatch.delenv(env)
    assert pull_result(artifact(Source("https", url)), retry=FAST_RETRY).path.is_dir()


def test_default_download_deadline_scales_with_the_size():
    """max(10 min, the size at 1 MB/s) unless download_deadline sets it."""
    from modelhub.registry.fetch.deadline import DEADLINE_FLOOR, Watchdog

    auto = Watchdog("http://example.invalid/m.zip", None)
    fixed = Watchdog("http://example.invalid/m.zip", 5.0)
    try:
        assert auto.limit == DEADLINE_FLOOR == 600
        auto.sized(10 * 10**9)  # 10 GB
        assert auto.limit == 10_000
        auto.sized(1000)  # a smaller announcement never shortens it
        assert auto.limit == 10_000
        fixed.sized(10**12)
        assert fixed.limit == 5.0
        assert "MODELHUB_DOWNLOAD_DEADLINE" in str(fixed.error())
    finally:
        auto.stop()
        fixed.stop()
