"""Real `modelhub pull` processes: killed with SIGKILL at random points, and
eight of them pulling the same model at once.  The model is the bundled
seed card's artifact, served by the fault server as the S3 endpoint's
HTTPS URL (``--source https``)."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from modelhub.registry.store.store import Store
from tests.fetch.conftest import entry_files, visible_state

NAME = "biobert_pubmed_pmc_base_cased"
ZIP = "biobert_pubmed_pmc_base_cased_en_2.6.0_2.4_1598343200280.zip"
PATH = f"/auxdata.johnsnowlabs.com/public/models/{ZIP}"
ROOT = Path(__file__).resolve().parents[2]
WINDOW = 0.03  # bytes sent in the last 30 ms before a kill: a transfer in progress


@pytest.fixture
def served(http_server, monkeypatch):
    files = {
        "metadata/part-00000": b'{"class": "BertEmbeddings"}',
        "bert_tensorflow": random.Random(7).randbytes(3 << 20),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    data = buf.getvalue()
    http_server.add(PATH, data, rate=6 << 20)  # ~0.5 s per connection
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", http_server.base)
    monkeypatch.setenv("MODELHUB_CHUNK_MB", "0.5")
    monkeypatch.setenv("MODELHUB_CONNECTIONS", "2")
    monkeypatch.setenv("MODELHUB_RETRY_BASE", "0.05")
    return data, files


def _cmd() -> list[str]:
    return [sys.executable, "-m", "modelhub", "pull", NAME, "--source", "https", "--json"]


def _store() -> Store:
    return Store(os.environ["MODELHUB_CACHE"])


def _assert_consistent(st: Store, files: dict[str, bytes]) -> bool:
    """Nothing incomplete is visible: either no entry or a complete, exact one."""
    entries = list(st.entries())
    assert len(entries) <= 1
    if not entries:
        return False
    e = entries[0]
    assert e.verify() == [] and entry_files(e.path) == files
    return True


def _bytes_after(http_server, until: float) -> tuple[int, int]:
    """Sleeps until ``until`` (monotonic); the server's bytes sent for the
    object :data:`WINDOW` before then and at then."""
    time.sleep(max(0.0, until - WINDOW - time.monotonic()))
    before = http_server.bytes_sent[PATH]
    time.sleep(max(0.0, until - time.monotonic()))
    return before, http_server.bytes_sent[PATH]


def _first_byte(http_server, p: subprocess.Popen, sent: int, timeout: float = 10.0) -> float:
    """Waits until the server sends the object's bytes again (or ``p`` ends)."""
    t_end = time.monotonic() + timeout
    while http_server.bytes_sent[PATH] == sent and p.poll() is None:
        if time.monotonic() > t_end:
            break
        time.sleep(0.002)
    return time.monotonic()


def _quiet(http_server, timeout: float = 5.0) -> int:
    """Waits until the server has stopped sending to a killed process (its
    handler threads notice the reset connection); the bytes sent so far."""
    t_end = time.monotonic() + timeout
    sent = http_server.bytes_sent[PATH]
    while time.monotonic() < t_end:
        time.sleep(0.05)
        now = http_server.bytes_sent[PATH]
        if now == sent:
            break
        sent = now
    return sent


@pytest.mark.slow
def test_kill_9_at_random_points_never_leaves_a_broken_entry(served, http_server):
    _data, files = served
    http_server.objects[PATH].rate = 3 << 20  # ~0.5 s for the whole object: room to land in
    rng = random.Random(20)
    st = _store()
    completed = mid_transfer = 0
    startup = 0.6  # seconds from spawn to the first byte; measured as it goes
    for _ in range(20):
        # A random point around the transfer: in the start-up before it (< 0),
        # during it, or in the verification, extraction and install after it.
        offset = rng.uniform(-0.3, 0.5)
        sent = _quiet(http_server)
        t0 = time.monotonic()
        p = subprocess.Popen(_cmd(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if offset < 0:
            before, at = _bytes_after(http_server, t0 + max(0.05, startup + offset))
        else:
            t1 = _first_byte(http_server, p, sent)
            startup = 0.5 * startup + 0.5 * (t1 - t0)
            before, at = _bytes_after(http_server, t1 + offset)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        if _assert_consistent(st, files):
            completed += 1
            assert st.remove(_only_key(st))  # make the next kill land mid-download again
        elif at > before:
            mid_transfer += 1  # bytes were flowing when the kill landed
    out = subprocess.run(_cmd(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = Path(json.loads(out.stdout)["path"])
    assert entry_files(path) == files
    assert _assert_consistent(st, files)
    assert mid_transfer >= 5, (mid_transfer, completed)
    assert completed < 20  # most kills landed before completion
    # Nothing incomplete is visible: no entry without its manifest, and no
    # partial download (the last pull took over what the killed ones left).
    left = visible_state(st)
    assert not left.get("no_manifest") and not left.get("partials"), left


def _only_key(st: Store) -> str:
    return next(iter(st.entries())).key


@pytest.mark.slow
def test_eight_processes_one_transfer(served, http_server):
    data, files = served
    procs = [
        subprocess.Popen(
            _cmd(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["path"] for r in results}) == 1
    assert sum(not r["cache_hit"] for r in results) == 1
    assert entry_files(Path(results[0]["path"])) == files
    assert http_server.bytes_sent[PATH] == len(data)  # the object crossed the wire once
    # ... in one download's ranged GETs: one per 0.5 MiB chunk, none repeated
    gets = http_server.gets(PATH)
    chunk = 1 << 19
    assert len(gets) == -(-len(data) // chunk) and {g[3] for g in gets} == {206}, gets
    assert len({g[2] for g in gets}) == len(gets)
