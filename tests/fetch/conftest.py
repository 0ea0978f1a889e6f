"""Helpers for the fetch/cache tests: artifacts built directly, zips, and a
socket guard that fails any network connection."""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelhub.cards.record import ModelCard
from modelhub.config import load_settings
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.fetch.transport import RetryPolicy
from modelhub.registry.store.store import Store

FAST_RETRY = RetryPolicy(attempts=4, base=0.01, cap=0.05, total=30.0)


def artifact(
    *sources: Source,
    name: str = "tiny_model",
    lang: str = "en",
    zip_name: str | None = None,
    folder: str | None = None,
    checksum: str | None = None,
    sha256: str | None = None,
) -> Artifact:
    card = ModelCard(name=name, language=lang, artifact=zip_name, folder=folder)
    return Artifact(record=card, sources=sources, checksum=checksum, sha256=sha256)


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store() -> Store:
    return Store.from_settings(load_settings())


def visible_state(st: Store) -> dict[str, list[str]]:
    """Everything under the cache that is not a complete entry."""
    inc = st.incomplete()
    return {k: [str(p) for p in v] for k, v in inc.items() if v}


@pytest.fixture
def model_zip() -> tuple[bytes, dict[str, bytes]]:
    files = {
        "metadata/part-00000": b'{"class":"com.johnsnowlabs.nlp.embeddings.BertEmbeddings"}\n',
        "fields/vocabulary/part-00000": b"hello\nworld\n" * 50,
        "bert_tensorflow": bytes(range(256)) * 400,
    }
    return make_zip(files), files


class NetworkCalled(AssertionError):
    pass


class NetGuard:
    """``on()`` makes any socket connect or DNS lookup fail (and be recorded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.mp = monkeypatch
        self.calls: list[object] = []

    def on(self) -> None:
        def guard(sock: socket.socket, address: object, *a: object) -> None:
            self.calls.append(address)
            raise NetworkCalled(f"network call to {address!r} in offline/cached mode")

        def guard_dns(*args: object, **kw: object) -> None:
            self.calls.append(args)
            raise NetworkCalled(f"DNS lookup {args!r} in offline/cached mode")

        self.mp.setattr(socket.socket, "connect", guard)
        self.mp.setattr(socket.socket, "connect_ex", guard)
        self.mp.setattr(socket, "getaddrinfo", guard_dns)
        self.mp.setattr(socket, "create_connection", guard_dns)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetGuard]:
    guard = NetGuard(monkeypatch)
    yield guard
    assert not guard.calls, guard.calls


def entry_files(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }
