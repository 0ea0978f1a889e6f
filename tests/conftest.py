"""Fixtures every test gets: an isolated cache and config, and the shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

pytest_plugins = ["tests.servers.s3", "tests.servers.http", "tests.servers.hf"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MODELHUB_SHARED", REPO_ROOT.parent / "shared"))
SEEDS = REPO_ROOT / "modelhub" / "data" / "cards"


def in_ci() -> bool:
    """``CI`` is set (CI runs ``bash .ci/run`` with ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skips here, fails in CI: what the test proves must not go unproved
    there because a dependency (Java, an extra, a distribution) is missing."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this must not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test gets its own cache, no user config, and no network sources
    unless it points at one of the local servers."""
    home = tmp_path_factory.mktemp("home")
    cache = home / "cache"
    monkeypatch.setenv("MODELHUB_CACHE", str(cache))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    for var in (
        "MODELHUB_CONFIG",
        "MODELHUB_CARDS",
        "MODELHUB_MIRROR",
        "MODELHUB_OFFLINE",
        "HF_HUB_OFFLINE",  # Hugging Face's switches turn modelhub's offline mode on too
        "TRANSFORMERS_OFFLINE",
        "MODELHUB_S3_ENDPOINT",
        "MODELHUB_LIB_VERSION",
        "MODELHUB_SPARK_VERSION",
    ):
        monkeypatch.delenv(var, raising=False)
    yield cache


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared corpus and seeds live beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    corpus = shared_dir / "corpus"
    if not corpus.is_dir():
        pytest.skip(f"{corpus} is absent: real cards and metadata tables are needed")
    return corpus


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The seed cards, as bundled in the package (copies of ../shared/seeds)."""
    return SEEDS
