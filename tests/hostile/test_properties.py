"""Issue 14, "What to build", last item: property tests. Arbitrary JSON as a
manifest, a lock file, a download-lock holder or a metadata.json line gives
a result or a typed ``ModelhubError`` (the CLI's exit status 1 or 2), never
another exception and never a hang.

These call ``modelhub.cli.main([...])`` in this process: a non-Modelhub
exception escapes it and fails the example, which is what is under test.
"""

from __future__ import annotations

import _thread
import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from modelhub.cli import main
from tests.hostile.conftest import GOOD_FILES, Hub, make_zip
from tests.hostile.test_catalog_inputs import _serve_metadata, meta_line
from tests.hostile.test_locks import entry_id

PROPS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
numbers = st.integers(min_value=-(10**25), max_value=10**25) | st.floats()
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def inproc(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """``hub``'s settings in this process's environment, for ``main([...])``."""
    for k, v in hub.env.items():
        if k.startswith(("MODELHUB_", "AWS_", "HF_")):
            monkeypatch.setenv(k, v)
    yield hub


def _cli(*args: str) -> int:
    rc = main(list(args))
    assert rc in (0, 1, 2), rc
    return rc


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[list[int]]:
    """Interrupts the main thread after ``seconds``: an in-process hang
    becomes a failed example instead of a test that never ends (a signal
    from pytest-timeout would be caught and replayed by hypothesis)."""
    fired: list[int] = []

    def fire() -> None:
        fired.append(1)
        _thread.interrupt_main()

    timer = threading.Timer(seconds, fire)
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _mutate(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


MANIFEST_FIELDS = [
    ("format",),
    ("key",),
    ("content",),
    ("kind",),
    ("source",),
    ("download",),
    ("files",),
    ("files", 0),
    ("files", 0, "path"),
    ("files", 0, "size"),
    ("files", 0, "sha256"),
    ("files", 0, "mtime_ns"),
    ("artifact",),
    ("artifact", "sources"),
    ("created",),
]


@pytest.mark.xfail(strict=True, reason="issue 14: arbitrary JSON in a manifest -> exception")
@pytest.mark.timeout(120)
def test_any_json_as_a_manifest_is_a_record_or_a_typed_error(inproc: Hub) -> None:
    name = "prop_manifest"
    inproc.publish(name, make_zip(GOOD_FILES))
    assert _cli("pull", name) == 0
    manifest = inproc.entry_dir(name) / "manifest.json"
    good = json.loads(manifest.read_text())

    @PROPS
    @given(
        whole=st.booleans(),
        field=st.sampled_from(MANIFEST_FIELDS),
        value=json_values,
    )
    @example(whole=True, field=("format",), value=None)
    @example(whole=False, field=("files", 0, "size"), value="big")
    def check(whole: bool, field: tuple[Any, ...], value: Any) -> None:
        doc = value if whole else _mutate(good, field, value)
        manifest.write_text(json.dumps(doc))
        _cli("cache", "ls", "--json")
        _cli("pull", name, "--offline")

    check()


@pytest.mark.xfail(strict=True, reason="issue 14: arbitrary JSON as a lock file -> exception")
@pytest.mark.timeout(120)
def test_any_json_as_a_lock_file_is_a_typed_error(inproc: Hub, capsys: Any) -> None:
    name = "prop_lockfile"
    inproc.publish(name, make_zip(GOOD_FILES))
    assert _cli("lock", name) == 0
    good = json.loads(capsys.readouterr().out)
    lock = inproc.root / "modelhub.lock"
    fields = [("format",), ("artifacts",), ("artifacts", 0)] + [
        ("artifacts", 0, k) for k in good["artifacts"][0]
    ]

    @PROPS
    @given(whole=st.booleans(), field=st.sampled_from(fields), value=json_values)
    @example(whole=False, field=("artifacts", 0, "files"), value="abc")
    def check(whole: bool, field: tuple[Any, ...], value: Any) -> None:
        doc = value if whole else _mutate(good, field, value)
        lock.write_text(json.dumps(doc))
        _cli("pull", "--lock", str(lock), "--offline")

    check()


@pytest.mark.xfail(strict=True, reason="issue 14: arbitrary lock-holder JSON -> exception/hang")
@pytest.mark.timeout(60)
def test_any_json_as_a_lock_holder_is_taken_over(inproc: Hub, monkeypatch: Any) -> None:
    name = "prop_holder"
    inproc.publish(name, make_zip(GOOD_FILES))
    monkeypatch.setenv("MODELHUB_LOCK_STALE", "0.2")
    locks = inproc.cache / "locks"
    eid = entry_id(name)
    now = time.time()
    holder_values = st.fixed_dictionaries(
        {},
        optional={
            "host": st.just(socket.gethostname()) | json_values,
            "pid": st.just(os.getpid()) | json_values,
            "start": st.just(now) | json_values,
            "updated": st.just(now) | json_values,
            "bytes": json_values,
        },
    )

    # No shrinking: a hang is cut by the watchdog, and each replay of it
    # would cost the watchdog's time again.
    @settings(PROPS, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(holder=holder_values | json_values)
    @example(holder={"host": socket.gethostname(), "pid": os.getpid(), "updated": now + 1e9})
    @example(holder={"host": socket.gethostname(), "pid": "abc", "updated": now})
    def check(holder: Any) -> None:
        _cli("cache", "rm", name, "--yes")
        locks.mkdir(parents=True, exist_ok=True)
        (locks / f"{eid}.json").write_text(json.dumps(holder))
        fd = os.open(locks / f"{eid}.lock", os.O_RDWR | os.O_CREAT, 0o664)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with watchdog(5) as fired:
                try:
                    rc = main(["pull", name])
                except KeyboardInterrupt:
                    rc = 130
            assert not fired, f"pull hung on the lock held by {holder!r}"
            assert rc == 0, rc
        finally:
            os.close(fd)

    check()


METADATA_KEYS = [
    "name",
    "language",
    "libVersion",
    "sparkVersion",
    "readyToUse",
    "time",
    "isZipped",
    "category",
    "checksum",
]


@pytest.mark.xfail(strict=True, reason="issue 14 point 3: arbitrary metadata line -> exception")
@pytest.mark.timeout(120)
def test_any_json_as_a_metadata_line_is_skipped_or_loaded(
    inproc: Hub, monkeypatch: Any, capsys: Any
) -> None:
    _serve_metadata(inproc, '"2021-01-01T00:00:00.000Z"')
    monkeypatch.setenv("MODELHUB_CONFIG", inproc.env["MODELHUB_CONFIG"])
    assert _cli("catalog", "sync") == 0
    copies = list((inproc.cache / "catalog").rglob("metadata.json"))
    assert len(copies) == 1
    copy: Path = copies[0]
    good = json.loads(meta_line("evil_meta_model"))

    @PROPS
    @given(
        whole=st.booleans(),
        field=st.sampled_from(METADATA_KEYS),
        part=st.sampled_from([None, "parts"]),
        value=json_values | numbers,
    )
    @example(whole=False, field="time", part=None, value=-99999999999999999999)
    @example(whole=False, field="time", part=None, value=1e300)
    @example(whole=False, field="sparkVersion", part="parts", value=[3, 10**30])
    def check(whole: bool, field: str, part: str | None, value: Any) -> None:
        if whole:
            line = value
        elif part and field in ("libVersion", "sparkVersion"):
            line = _mutate(good, (field, part), value)
        else:
            line = _mutate(good, (field,), value)
        copy.write_text(meta_line("good_meta_model") + "\n" + json.dumps(line) + "\n")
        capsys.readouterr()
        assert _cli("list", "--json") == 0
        names = {row.get("name") for row in json.loads(capsys.readouterr().out)}
        assert "good_meta_model" in names

    check()
