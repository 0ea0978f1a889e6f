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

from modelhub.registry.store import Store
from tests.fetch.conftest import entry_files

NAME = "biobert_pubmed_pmc_base_cased"
ZIP = "biobert_pubmed_pmc_base_cased_en_2.6.0_2.4_1598343200280.zip"
PATH = f"/auxdata.johnsnowlabs.com/public/models/{ZIP}"
ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.slow
def test_kill_9_at_random_points_never_leaves_a_broken_entry(served):
    _data, files = served
    rng = random.Random(20)
    st = _store()
    completed = 0
    for _ in range(20):
        p = subprocess.Popen(_cmd(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.25, 1.1))
        p.send_signal(signal.SIGKILL)
        p.communicate()
        if _assert_consistent(st, files):
            completed += 1
            assert st.remove(_only_key(st))  # make the next kill land mid-download again
    out = subprocess.run(_cmd(), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = Path(json.loads(out.stdout)["path"])
    assert entry_files(path) == files
    assert _assert_consistent(st, files)
    assert completed < 20  # most kills landed before completion


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
