"""Issue 14, points 7 (lock file and lock holder with wrong types) and 8 (a
lock holder whose last progress lies in the future).

A lock file for ``pull --lock`` whose fields have the wrong JSON types is a
typed error (exit 2), not a traceback. The download lock's holder record
(``locks/<id>.json``, documented in the README) is data: wrong types, or an
``updated`` time far in the future, must not crash or block a pull forever;
such a holder counts as stale and is taken over.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import GOOD_FILES, Hub, artifact_name, assert_ok, make_zip


def entry_id(name: str) -> str:
    """README: the artifact key made filesystem-safe plus 8 hex digits of its SHA-256."""
    key = f"public/models/{artifact_name(name)}"
    return key.replace("/", "--") + "-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return apply


LOCK_MUTATIONS = {
    "artifacts_not_a_list": _set(["artifacts"], {"a": 1}),
    "artifact_not_an_object": _set(["artifacts", 0], "foo"),
    "files_not_a_list": _set(["artifacts", 0, "files"], "abc"),
    "file_not_an_object": _set(["artifacts", 0, "files", 0], 5),
    "size_a_string": _set(["artifacts", 0, "files", 0, "size"], "big"),
    "sha256_a_list": _set(["artifacts", 0, "files", 0, "sha256"], [1, 2]),
    "key_a_number": _set(["artifacts", 0, "key"], 12),
    "source_a_number": _set(["artifacts", 0, "source"], 7),
}


@pytest.mark.xfail(strict=True, reason="issue 14 point 7: lock file with wrong types")
@pytest.mark.timeout(90)
def test_lock_file_with_wrong_types_is_a_typed_error(hub: Hub) -> None:
    name = "lock_types"
    hub.publish(name, make_zip(GOOD_FILES))
    r = hub.mh("lock", name)
    assert_ok(r)
    good = json.loads(r.stdout)
    failures = []
    for label, mutate in LOCK_MUTATIONS.items():
        doc = copy.deepcopy(good)
        mutate(doc)
        lock = hub.root / f"{label}.lock"
        lock.write_text(json.dumps(doc))
        r = hub.mh("pull", "--lock", str(lock))
        if "Traceback" in r.stderr or r.returncode != 2:
            failures.append((label, r.returncode, r.stderr.strip().splitlines()[-1:]))
    assert not failures, failures


@contextmanager
def held_lock(hub: Hub, name: str, holder: dict[str, Any]) -> Iterator[None]:
    """Holds ``locks/<id>.lock`` (an flock, as the download lock takes it)
    from this process, with ``holder`` as the recorded holder."""
    locks = hub.cache / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    eid = entry_id(name)
    (locks / f"{eid}.json").write_text(json.dumps(holder))
    fd = os.open(locks / f"{eid}.lock", os.O_RDWR | os.O_CREAT, 0o664)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _pull_takes_over(hub: Hub, name: str, holder: dict[str, Any]) -> None:
    hub.publish(name, make_zip(GOOD_FILES))
    hub.mh("catalog", "rebuild")  # warm, so the timing below is the lock's
    with held_lock(hub, name, holder):
        t0 = time.monotonic()
        try:
            r = hub.mh("pull", name, "--json", timeout=6, MODELHUB_LOCK_STALE="1")
        except subprocess.TimeoutExpired:
            pytest.fail("pull waited 6 s on a lock whose holder is stale (MODELHUB_LOCK_STALE=1)")
        assert time.monotonic() - t0 < 5.5
    assert_ok(r)
    assert Path(json.loads(r.stdout)["path"]).is_dir()


@pytest.mark.xfail(strict=True, reason="issue 14 point 7: lock holder JSON with wrong types")
@pytest.mark.timeout(30)
def test_lock_holder_with_wrong_types_is_taken_over(hub: Hub) -> None:
    holder = {"host": ["x"], "pid": "abc", "start": {}, "updated": "yesterday", "bytes": None}
    _pull_takes_over(hub, "lock_holder_types", holder)


@pytest.mark.xfail(strict=True, reason="issue 14 point 8: holder 'updated' in the future")
@pytest.mark.timeout(30)
def test_lock_holder_progress_in_the_future_counts_as_stale(hub: Hub) -> None:
    now = time.time()
    holder = {
        "host": socket.gethostname(),
        "pid": os.getpid(),  # alive: only the time can make it stale
        "start": now,
        "updated": now + 10 * 365 * 86400,
        "bytes": 0,
    }
    _pull_takes_over(hub, "lock_holder_future", holder)


@pytest.mark.timeout(30)
def test_control_a_holder_without_progress_is_taken_over(hub: Hub) -> None:
    """The harness itself: the same held lock, with a holder that last made
    progress an hour ago, is taken over today."""
    now = time.time()
    holder = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": now - 3600,
        "updated": now - 3600,
        "bytes": 0,
    }
    _pull_takes_over(hub, "lock_holder_old", holder)
