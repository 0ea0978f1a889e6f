"""Helpers for the cache maintenance tests: entries installed through the
store's own API, and the CLI run in-process or as a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelhub.cli.app import main
from modelhub.config import load_settings
from modelhub.registry.store.manifest import Entry, FileRecord, Manifest
from modelhub.registry.store.store import Store
from tests.fetch.conftest import no_network  # noqa: F401  (fixture, re-exported)

REPO_ROOT = Path(__file__).resolve().parents[2]


def store() -> Store:
    return Store.from_settings(load_settings())


def install(
    name: str,
    files: dict[str, bytes],
    *,
    lang: str = "en",
    version: str = "5.0.0",
    source: str = "s3",
    engine: str = "tensorflow",
    st: Store | None = None,
    last_used: float | None = None,
    sources: list[dict[str, Any]] | None = None,
) -> Entry:
    """A complete entry made the way pull() makes one (staging dir + install)."""
    st = st or store()
    key = f"public/models/{name}_{lang}_{version}_3.0_1700000000000.zip"
    staged = st.staging_dir(key)
    records = []
    for rel, data in files.items():
        (staged / rel).parent.mkdir(parents=True, exist_ok=True)
        (staged / rel).write_bytes(data)
        records.append(FileRecord(rel, len(data), hashlib.sha256(data).hexdigest()))
    record = {"name": name, "language": lang, "lib_version": version, "engine": engine}
    manifest = Manifest(
        key=key,
        content="",
        files=tuple(records),
        kind="zip",
        source={"kind": source, "location": f"{source}://bucket/{key}"},
        artifact={"key": key, "record": record, "sources": sources or []},
    )
    entry = st.install(key, staged, manifest)
    if last_used is not None:
        st.record_use(entry, now=last_used)
    return entry


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``modelhub ARGS`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def cli_json(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    rc, out, _err = cli(*args, "--json", capsys=capsys)
    return rc, json.loads(out) if out.strip() else None


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``python -m modelhub ARGS`` as a real process (stdin not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "modelhub", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=REPO_ROOT,
        timeout=timeout,
    )
