"""Issue 14: the parsers at the cache's and catalog's boundary, called
directly with arbitrary JSON and arbitrary bytes. Each gives a record or a
typed ``ModelhubError`` (for the metadata parser: a ``ValueError`` the
reader turns into one skipped line), never another exception, never a hang;
and what they accept is safe to use (paths stay inside the entry, times and
versions stay in range)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelhub.errors import ModelhubError
from modelhub.registry.catalog.metadata import MAX_TIME_MS, parse_line
from modelhub.registry.mirror.lockfile import LockError, read_lock
from modelhub.registry.store.locks import ArtifactLock
from modelhub.registry.store.manifest import FileRecord, Manifest, ManifestError, load_manifest
from modelhub.saferead import UnsafeFileError, parse_json, read_json

PROPS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
SHA = "ab" * 32
GOOD_MANIFEST = {
    "format": 1,
    "key": "public/models/x.zip",
    "content": "c-0123456789ab",
    "kind": "zip",
    "source": {"kind": "s3", "location": "s3://b/x.zip"},
    "download": {},
    "commit": None,
    "created": 1.0,
    "files": [{"path": "a/b.txt", "size": 3, "sha256": SHA, "mtime_ns": 1}],
    "artifact": {},
}


def _mutated(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


def _inside(path: str) -> bool:
    parts = path.split("/")
    return (
        not path.startswith("/")
        and "\\" not in path
        and all(p not in ("", ".", "..") for p in parts)
    )


MANIFEST_FIELDS = [(k,) for k in GOOD_MANIFEST] + [
    ("files", 0),
    *(("files", 0, k) for k in ("path", "size", "sha256", "mtime_ns")),
]


@PROPS
@given(whole=st.booleans(), field=st.sampled_from(MANIFEST_FIELDS), value=json_values)
@example(whole=False, field=("files", 0, "path"), value="../X")
@example(whole=False, field=("files", 0, "path"), value="/etc/passwd")
@example(whole=False, field=("files", 0, "path"), value="a\\..\\b")
@example(whole=False, field=("files", 0, "path"), value="a//b")
@example(whole=False, field=("files", 0, "path"), value="a\x00b")
@example(whole=False, field=("files", 0, "size"), value=True)
def test_any_json_as_a_manifest_is_a_manifest_or_a_manifest_error(
    whole: bool, field: tuple[Any, ...], value: Any
) -> None:
    doc = value if whole else _mutated(GOOD_MANIFEST, field, value)
    try:
        m = Manifest.from_dict(doc)
    except ManifestError:
        return
    assert all(_inside(f.path) for f in m.files)
    assert all(type(f.size) is int and f.size >= 0 for f in m.files)
    assert "/" not in m.content and m.content not in ("", ".", "..")


@PROPS
@given(data=st.binary(max_size=300))
@example(data=b'{"files": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
@example(data=b'{"created": 1e400}')
@example(data=b'{"created": NaN}')
@example(data=b"\xff\xfe{}")
def test_any_bytes_as_a_manifest_file_is_a_manifest_or_a_typed_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    d = tmp_path_factory.mktemp("entry")
    (d / "manifest.json").write_bytes(data)
    try:
        load_manifest(d)
    except ModelhubError as exc:
        assert isinstance(exc, (ManifestError, UnsafeFileError))


def test_a_fifo_or_a_link_in_place_of_a_manifest_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "manifest.json")  # nobody ever writes the other end
    t0 = time.monotonic()
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        load_manifest(tmp_path)
    assert time.monotonic() - t0 < 2
    other = tmp_path / "x"
    other.mkdir()
    (tmp_path / "real.json").write_text(json.dumps(GOOD_MANIFEST))
    (other / "manifest.json").symlink_to(tmp_path / "real.json")
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        load_manifest(other)


def test_read_json_bounds_size_and_depth(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'{"a": "' + b"x" * 5000 + b'"}')
    with pytest.raises(UnsafeFileError, match="more than"):
        read_json(big, limit=1000)
    with pytest.raises(UnsafeFileError, match="nests deeper"):
        parse_json("[" * 100 + "]" * 100, "doc", expect=list)
    assert parse_json('["[[[[[[", {"a": "{{{{"}]', "doc", max_depth=2, expect=list)


@PROPS
@given(value=json_values, data=st.binary(max_size=200), use_bytes=st.booleans())
@example(
    value={"format": 1, "artifacts": [{"name": "x", "key": "k", "files": "abc"}]},
    data=b"",
    use_bytes=False,
)
@example(
    value={"format": 1, "artifacts": [{"name": 3, "key": "k", "files": []}]},
    data=b"",
    use_bytes=False,
)
@example(value={"format": True, "artifacts": []}, data=b"", use_bytes=False)
def test_any_json_or_bytes_as_a_lock_file_is_artifacts_or_a_lock_error(
    tmp_path_factory: pytest.TempPathFactory, value: Any, data: bytes, use_bytes: bool
) -> None:
    path = tmp_path_factory.mktemp("lock") / "models.lock"
    path.write_bytes(data if use_bytes else json.dumps(value).encode())
    try:
        items = read_lock(path)
    except LockError:
        return
    for item in items:
        assert isinstance(item["name"], str) and isinstance(item["key"], str)
        assert all(isinstance(f, FileRecord) and _inside(f.path) for f in item["files"])


@PROPS
@given(value=json_values, data=st.binary(max_size=200), use_bytes=st.booleans())
@example(value={"host": ["x"], "pid": "abc", "updated": "yesterday"}, data=b"", use_bytes=False)
@example(value={"updated": 1e300}, data=b"", use_bytes=False)
@example(
    value={"updated": time.time() + 10 * 365 * 86400, "pid": os.getpid()}, data=b"", use_bytes=False
)
def test_any_json_or_bytes_as_a_lock_holder_is_a_holder_or_none(
    tmp_path_factory: pytest.TempPathFactory, value: Any, data: bytes, use_bytes: bool
) -> None:
    d = tmp_path_factory.mktemp("locks")
    info = d / "x.json"
    info.write_bytes(data if use_bytes else json.dumps(value).encode())
    lock = ArtifactLock(d / "x.lock", info, stale_after=60)
    holder = lock.holder()
    if holder is None:
        return
    stale = lock._is_stale(holder)  # never raises, whatever the other fields hold
    if holder["updated"] > time.time() + 60:
        assert stale, "a holder stamped in the future is stale"


def test_a_holder_stamped_in_the_future_is_stale_even_from_this_process(tmp_path: Path) -> None:
    info = tmp_path / "x.json"
    future = time.time() + 10 * 365 * 86400
    info.write_text(
        json.dumps({"host": os.uname().nodename, "pid": os.getpid(), "updated": future})
    )
    lock = ArtifactLock(tmp_path / "x.lock", info, stale_after=60)
    holder = lock.holder()
    assert holder is not None and lock._is_stale(holder)


META = {
    "name": "m",
    "language": "en",
    "libVersion": {"parts": [4, 2, 0]},
    "sparkVersion": {"parts": [3, 0]},
    "readyToUse": True,
    "time": "2020-01-28T17:34:18.110Z",
    "isZipped": True,
    "category": "ml",
    "checksum": "",
}


@PROPS
@given(
    whole=st.booleans(),
    field=st.sampled_from(sorted(META)),
    value=json_values,
    raw=st.text(max_size=200),
    use_raw=st.booleans(),
)
@example(whole=False, field="time", value=-99999999999999999999, raw="", use_raw=False)
@example(whole=False, field="time", value=1e300, raw="", use_raw=False)
@example(whole=False, field="time", value="0001-01-01T00:00:00", raw="", use_raw=False)
@example(whole=False, field="libVersion", value="3." + "1" * 5000, raw="", use_raw=False)
@example(whole=False, field="sparkVersion", value={"parts": [10**40]}, raw="", use_raw=False)
@example(whole=False, field="time", value=0, raw='{"time": 1e400}', use_raw=True)
def test_any_metadata_line_is_a_line_or_a_value_error(
    whole: bool, field: str, value: Any, raw: str, use_raw: bool
) -> None:
    text = raw if use_raw else json.dumps(value if whole else {**META, field: value})
    try:
        line = parse_line(text, folder="public/models", line=1)
    except ValueError:
        return  # the reader logs it once, naming the file and line, and skips it
    assert 0 <= line.time_ms <= MAX_TIME_MS
    assert all(0 <= p < 10**10 for p in (*line.lib_version, *line.spark_version))
    assert line.artifact  # builds the artifact name without OverflowError


@PROPS
@given(value=json_values, field=st.sampled_from(["size", "chunk", "done", "etag", None]))
@example(value="abc", field="done")
@example(value=0, field="chunk")
@example(value=10**30, field="size")
def test_any_json_in_a_partial_sidecar_resumes_or_starts_over(
    tmp_path_factory: pytest.TempPathFactory, value: Any, field: str | None
) -> None:
    from modelhub.registry.store.store import Store, sidecar_ok

    st_ = Store(tmp_path_factory.mktemp("cache"), fsync=False)
    url = "https://example.invalid/x.zip"
    p = st_.open_partial("k", url)
    os.write(p.fd, b"x" * 10)
    good = {"url": url, "size": 10, "chunk": 4, "done": [0], "etag": '"e"'}
    p.save(**good)
    p.close()
    doc = dict(good)
    if field is None:
        doc = {"url": url, **(value if isinstance(value, dict) else {})}
        doc["url"] = url
    else:
        doc[field] = value
    p.sidecar_path.write_text(json.dumps(doc))
    again = st_.open_partial("k", url)  # never raises, whatever the record holds
    try:
        try:
            json.dumps(doc, allow_nan=False)
        except ValueError:  # NaN/Infinity: not JSON modelhub reads; a new partial
            assert again.path != p.path and again.sidecar == {"url": url}
            return
        assert again.path == p.path
        assert sidecar_ok(again.sidecar)
        if not sidecar_ok(doc):
            assert os.fstat(again.fd).st_size == 0  # started over
    finally:
        again.close()


def test_a_fifo_in_place_of_an_entry_file_is_missing_not_a_hang(tmp_path: Path) -> None:
    from modelhub.registry.store.integrity import hash_entries
    from modelhub.registry.store.manifest import Entry

    content = tmp_path / "c-1"
    content.mkdir()
    os.mkfifo(content / "a.bin")  # nobody ever writes the other end
    m = Manifest(key="k", content="c-1", files=(FileRecord("a.bin", 3, SHA),))
    t0 = time.monotonic()
    entry = Entry("k", tmp_path, m)
    [problem] = entry.verify()  # pull --verify
    [[again]], _ = hash_entries([entry], workers=1)  # cache verify: opens the file
    assert problem.problem == again.problem == "missing"
    assert time.monotonic() - t0 < 2
