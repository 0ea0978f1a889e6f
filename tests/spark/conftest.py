"""One SparkSession (local[2]) for every Spark test, models published on the
local servers, and a way to run executors' Python workers in another
environment (an empty cache, offline, the network blocked).

Python workers get their environment from ``SparkContext.environment``
(``spark.executorEnv.*``) when a job is submitted; Spark keeps one worker
pool per distinct environment, so :func:`worker_env` gives a test fresh
workers with its own settings without a second SparkSession.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cardgen import (
    SPARKNLP_TINY_ARTIFACT,
    embeddings_card,
    imported_from_hf,
    sparknlp_tiny_card,
)
from tests.conftest import skip_or_fail

_SESSION_VARS = (
    "MODELHUB_CONFIG",
    "MODELHUB_CARDS",
    "MODELHUB_MIRROR",
    "MODELHUB_OFFLINE",
    "MODELHUB_S3_ENDPOINT",
    "MODELHUB_CACHE",
    "MODELHUB_SPARK_LOAD_LOG",
)

GUARD = '''\
"""Installed through PYTHONPATH in guarded Python workers: refuses every
TCP/IP connection and records the attempt."""
import os
import socket

_LOG = os.environ.get("MODELHUB_TEST_NET_LOG")
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _refuse(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        if _LOG:
            with open(_LOG, "a") as fh:
                fh.write(f"{os.getpid()} {address!r}\\n")
        raise OSError(101, f"network blocked by the modelhub test guard: {address!r}")


def connect(self, address):
    _refuse(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _refuse(self, address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
'''


def _skip_reason() -> str | None:
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        return f"the [spark] extra is not installed ({exc.name} missing)"
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java") or (java_home and shutil.which("java", path=f"{java_home}/bin"))
    if not java:
        return "Java is not installed (PySpark needs a JVM, 17 or newer)"
    return None


@pytest.fixture(scope="session")
def spark_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("spark")
    dirs = {
        name: base / name
        for name in ("executor-cache", "loads", "home", "guard", "empty-cards", "tmp")
    }
    for d in dirs.values():
        d.mkdir()
    (dirs["guard"] / "sitecustomize.py").write_text(GUARD)
    return dirs


@pytest.fixture(scope="session")
def spark(spark_dirs: dict[str, Path]) -> Iterator[Any]:
    """local[2], no UI, 2 shuffle partitions, 16 rows per Arrow batch (so a
    partition is many batches). Executors have their own cache and write
    the load log.  Skips without Java or the [spark] extra; fails in CI."""
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    from pyspark.sql import SparkSession

    worker_env = {
        "MODELHUB_CACHE": str(spark_dirs["executor-cache"]),
        "MODELHUB_SPARK_LOAD_LOG": str(spark_dirs["loads"]),
        "MODELHUB_OFFLINE": "0",
        "MODELHUB_CARDS": "",
        "MODELHUB_MIRROR": "",
        "MODELHUB_S3_ENDPOINT": "",
        "XDG_CONFIG_HOME": str(spark_dirs["home"] / "config"),
        "HF_HOME": str(spark_dirs["home"] / "hf"),
    }
    # The JVM (and so every Python worker) inherits the environment of this
    # moment: keep the user's modelhub settings out of it.
    saved = {k: os.environ.pop(k) for k in _SESSION_VARS if k in os.environ}
    os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("modelhub-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
        .config("spark.python.worker.reuse", "true")
        .config("spark.local.dir", str(spark_dirs["tmp"]))
        .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={spark_dirs['tmp']}")
    )
    for k, v in worker_env.items():
        builder = builder.config(f"spark.executorEnv.{k}", v)
    try:
        session = builder.getOrCreate()
    finally:
        os.environ.update(saved)
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@contextlib.contextmanager
def worker_env(spark: Any, **env: str) -> Iterator[None]:
    """Jobs submitted inside run in Python workers with ``env`` added
    (a separate worker pool: no model loaded yet)."""
    environment = spark.sparkContext.environment
    saved = dict(environment)
    environment.update(env)
    try:
        yield
    finally:
        environment.clear()
        environment.update(saved)


def load_log(loads_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for f in sorted(loads_dir.glob("*.jsonl")):
        rows += [json.loads(line) for line in f.read_text().splitlines() if line]
    return rows


# ----------------------------------------------------------------- models

TINY_REPO = "modelhub-tests/tiny-bert"
TINY_CARD = embeddings_card(
    "tiny_bert_spark",
    title="Tiny BERT (Spark test card)",
    description=imported_from_hf(TINY_REPO),
    table={"Case sensitive": "false", "Dimension": "32"},
)

SPARKNLP_ARTIFACT = SPARKNLP_TINY_ARTIFACT
SPARKNLP_CARD = sparknlp_tiny_card(title="Tiny BERT in a Spark NLP zip (Spark test card)")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.loaders.conftest import _save_tiny

    return _save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture
def cards_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cards = tmp_path / "cards"
    cards.mkdir()
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    yield cards


@pytest.fixture
def tiny_bert(hf_hub: Any, tiny_bert_dir: Path, cards_dir: Path) -> str:
    """``tiny_bert_spark``: a transformers directory on the local Hugging Face hub."""
    files = {p.name: p.read_bytes() for p in tiny_bert_dir.iterdir() if p.is_file()}
    hf_hub.add_repo(TINY_REPO, files)
    (cards_dir / "2023-11-14-tiny_bert_spark_en.md").write_text(TINY_CARD, encoding="utf-8")
    return "tiny_bert_spark"


@pytest.fixture
def sparknlp_bert(s3: Any, cards_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``bert_tiny_sparknlp``: a Spark NLP zip (ONNX engine) on the local S3."""
    from modelhub.loaders import installed_loaders
    from tests.sparknlp.conftest import FIXTURES, ZIPS

    if "sparknlp_bert" not in {lo.name for lo in installed_loaders()}:
        skip_or_fail("the sparknlp_bert entry point is not installed (pip install -e .)")
    s3.put(f"public/models/{SPARKNLP_ARTIFACT}", (FIXTURES / f"{ZIPS['onnx']}.zip").read_bytes())
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", s3.endpoint)
    (cards_dir / "2022-02-21-bert_tiny_sparknlp_en.md").write_text(SPARKNLP_CARD, encoding="utf-8")
    return "bert_tiny_sparknlp"
