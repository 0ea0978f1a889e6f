"""Shared pieces of the hostile-input suite (issue 14): a published model on
the suite's fault-injecting HTTP server (its S3 and HTTPS sources both point
there), the ``modelhub`` CLI run as a real process, and zips built byte by
byte.

Only stable contracts are used: the CLI, the public API and the cache layout
the README documents. Nothing under ``modelhub.registry`` is imported, so
these tests survive internal moves.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cardgen import embeddings_card, imported_from_hf, s3_url, write_card
from tests.servers.hf import HubServer
from tests.servers.http import FaultServer

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "auxdata.johnsnowlabs.com"
HF_FILES = {"config.json": b'{"model_type": "bert"}\n', "vocab.txt": b"[PAD]\n[UNK]\nhi\n"}


def artifact_name(name: str) -> str:
    return f"{name}_en_5.0.0_3.0_1700000000000.zip"


def object_path(name: str) -> str:
    """Where the server keeps ``name``'s zip (both its S3 and HTTPS source)."""
    return f"/{BUCKET}/public/models/{artifact_name(name)}"


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


GOOD_FILES = {
    "metadata/part-00000": b'{"class":"com.johnsnowlabs.nlp.embeddings.BertEmbeddings"}\n',
    "a.txt": b"hello, world\n" * 10,
}


@dataclass
class Member:
    """One zip member as written byte by byte: ``name`` is raw bytes (no
    encoding applied), ``method`` the compression method number written in
    the headers, ``flags`` the general-purpose bit flags."""

    name: bytes
    data: bytes
    method: int = 0
    flags: int = 0


def raw_zip(members: list[Member]) -> bytes:
    """A zip with local headers, central directory and end record packed by
    hand, so that it can carry what ``zipfile`` would never write."""
    out = bytearray()
    central = bytearray()
    for m in members:
        crc = zlib.crc32(m.data) & 0xFFFFFFFF
        if m.method in (8, 9):  # deflate64 (9) gets deflate bytes: the label is the point
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = comp.compress(m.data) + comp.flush()
        else:
            payload = m.data
        if m.flags & 0x1:  # "encrypted": a 12-byte header in front, as ZipCrypto has
            payload = os.urandom(12) + payload
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            m.flags,
            m.method,
            0,
            0x21,
            crc,
            len(payload),
            len(m.data),
            len(m.name),
            0,
        )
        out += m.name + payload
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            m.flags,
            m.method,
            0,
            0x21,
            crc,
            len(payload),
            len(m.data),
            len(m.name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offset,
        )
        central += m.name
    cd_offset = len(out)
    out += central
    out += struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0
    )
    return bytes(out)


def run(
    *args: str, env: dict[str, str], timeout: float = 20, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m modelhub ARGS`` as a real process, stdin not a terminal.
    A hang shows as ``subprocess.TimeoutExpired`` (the test fails)."""
    return subprocess.run(
        [sys.executable, "-m", "modelhub", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd or REPO_ROOT,
        timeout=timeout,
    )


def assert_clean_failure(r: subprocess.CompletedProcess[str], code: int = 2) -> None:
    """A typed error: the documented exit status and no traceback."""
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == code, (r.returncode, r.stdout[-1000:], r.stderr[-3000:])
    assert "modelhub: error:" in r.stderr, r.stderr[-3000:]


def assert_ok(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, (r.returncode, r.stdout[-1000:], r.stderr[-3000:])


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """A victim file's bytes, mtime and mode, to show it was not touched."""
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_mode


def tree(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


@dataclass
class Hub:
    """A card folder and a cache, with the model zips served by the fault
    server (S3 endpoint and HTTPS both) and, when asked, the Hugging Face
    repo each card names as its upstream on the local Hub server."""

    root: Path
    cache: Path
    server: FaultServer
    hf: HubServer | None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cards(self) -> Path:
        return self.root / "cards"

    def publish(self, name: str, data: bytes | None, *, hf_repo: str | None = None) -> str:
        """Writes ``name``'s card and serves ``data`` as its zip; with
        ``hf_repo`` the card also names a Hugging Face upstream (the last
        source pull tries), published with :data:`HF_FILES`."""
        description = "A hostile-input test model."
        if hf_repo:
            assert self.hf is not None, "use the hub_hf fixture"
            self.hf.add_repo(hf_repo, HF_FILES)
            description += " " + imported_from_hf(hf_repo)
        card = embeddings_card(
            name,
            title=f"{name} for hostile tests",
            description=description,
            download=s3_url(artifact_name(name)),
        )
        write_card(self.cards, f"2023-11-14-{name}_en.md", card)
        if data is not None:
            self.server.add(object_path(name), data)
        return object_path(name)

    def mh(self, *args: str, timeout: float = 20, **env: str) -> subprocess.CompletedProcess[str]:
        return run(*args, env={**self.env, **env}, timeout=timeout)

    def pull_json(self, name: str, **env: str) -> dict[str, Any]:
        r = self.mh("pull", name, "--json", **env)
        assert_ok(r)
        return json.loads(r.stdout)

    def entry_dir(self, name: str) -> Path:
        found = [p for p in (self.cache / "entries").iterdir() if name in p.name]
        assert len(found) == 1, found
        return found[0]

    def manifest(self, name: str) -> dict[str, Any]:
        return json.loads((self.entry_dir(name) / "manifest.json").read_text())

    def write_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        (self.entry_dir(name) / "manifest.json").write_text(json.dumps(manifest))


def _hub(tmp_path: Path, cache: Path, server: FaultServer, hf: HubServer | None) -> Hub:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            "MODELHUB_CACHE": str(cache),
            "MODELHUB_CARDS": str(tmp_path / "cards"),
            "MODELHUB_S3_ENDPOINT": server.base,
            "MODELHUB_RETRIES": "2",
            "MODELHUB_RETRY_BASE": "0.01",
            "MODELHUB_RETRY_TOTAL": "10",
            "MODELHUB_FSYNC": "0",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    if hf is None:
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # never the real Hub
    (tmp_path / "cards").mkdir(exist_ok=True)
    return Hub(root=tmp_path, cache=cache, server=server, hf=hf, env=env)


@pytest.fixture
def hub(tmp_path: Path, isolated_env: Path, http_server: FaultServer) -> Iterator[Hub]:
    yield _hub(tmp_path, isolated_env, http_server, None)


@pytest.fixture
def hub_hf(
    tmp_path: Path, isolated_env: Path, http_server: FaultServer, hf_hub: HubServer
) -> Iterator[Hub]:
    yield _hub(tmp_path, isolated_env, http_server, hf_hub)
