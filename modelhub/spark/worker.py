"""The executor side: one loaded model per Python worker, reused.

Spark reuses Python workers across tasks (``spark.python.worker.reuse``,
true by default), so a module-level cache here keeps a model loaded from the
first batch a worker sees until the worker exits: the load is paid once per
worker, not per task or batch.  The cache is keyed by the model's identity
(artifact key, content digest, loader, loader options).  Spark stops a
Python worker that has been idle for about a minute; the next task then
starts a new worker, which loads the model again.

Finding the files, in order: a complete entry with the same content already
in this executor's cache (a shared cache path, or an earlier install); the
entry the driver shipped (``SparkFiles``), installed into the local cache
with every file checked against the driver's manifest; else the executor
pulls through its own cache like ``modelhub.pull`` (locked, verified; needs
the network or a mirror unless the entry is cached).

``MODELHUB_SPARK_LOAD_LOG=<dir>`` makes each worker append one JSON line
per model load to ``<dir>/<host>-<pid>.jsonl`` (pid, key, whether it
installed the shipped entry, seconds to find the files and to load).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from modelhub.errors import IntegrityError
from modelhub.spark.spec import THREADED_LOADERS, ModelSpec

log = logging.getLogger(__name__)


_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def model_for(spec: ModelSpec) -> Any:
    """The loaded model for ``spec``: from this process's cache, else found
    (or installed) in the local modelhub cache and loaded once."""
    model = _MODELS.get(spec.identity)
    if model is not None:
        return model
    with _LOCK:
        model = _MODELS.get(spec.identity)
        if model is not None:
            return model
        t0 = time.perf_counter()
        path, installed = local_files(spec)
        t1 = time.perf_counter()
        options = spec.loader_options()
        if "num_threads" not in options and spec.loader in THREADED_LOADERS:
            options["num_threads"] = _task_cpus()
        from modelhub.loaders.discovery import load_path

        record = spec.artifact.record if spec.artifact is not None else None
        model = load_path(path, record, loader=spec.loader, **options)
        t2 = time.perf_counter()
        _MODELS[spec.identity] = model
        log.info(
            "loaded %s in %.2f s (files %.2f s) in pid %d",
            spec.label,
            t2 - t1,
            t1 - t0,
            os.getpid(),
        )
        _record_load(spec, path, installed, t1 - t0, t2 - t1)
        return model


def _task_cpus() -> int:
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None:
            return max(1, int(ctx.cpus()))
    except Exception:  # outside a task, or an old pyspark: one thread is the safe choice
        pass
    return 1


def local_files(spec: ModelSpec) -> tuple[Path, bool]:
    """The ready directory for ``spec`` on this executor, and whether it was
    installed from the driver's shipment just now."""
    if spec.local_path is not None:
        return Path(spec.local_path), False
    from modelhub.config import load_settings
    from modelhub.registry.store.manifest import Manifest
    from modelhub.registry.store.store import Store
    from modelhub.spark.ship import install_packed, same_content

    assert spec.manifest is not None
    settings = load_settings()
    store = Store.from_settings(settings)
    manifest = Manifest.from_dict(spec.manifest)
    entry = store.lookup(manifest.key)
    if entry is not None and same_content(entry, manifest) and not entry.quick_check():
        return entry.path, False
    if spec.shipped is not None:
        packed = _shipped_path(spec.shipped)
        if packed is not None:
            done = install_packed(store, manifest, packed)
            return done.entry.path, done.installed
        log.warning("%s: the shipped %s is not on this executor", spec.label, spec.shipped)
    from modelhub.registry.pulling import pull_result

    result = pull_result(spec.artifact, settings=settings)
    if not same_content(result.entry, manifest):
        raise IntegrityError(
            f"{spec.label}: the executor's copy of {manifest.key} in {store.root} differs from "
            "the driver's (another revision?); use ship=True or a shared cache",
            artifact=manifest.key,
        )
    return result.path, False


def _shipped_path(name: str) -> Path | None:
    try:
        from pyspark import SparkFiles

        path = Path(SparkFiles.get(name))
    except Exception:  # not in a Spark worker
        return None
    return path if path.is_file() else None


def _record_load(
    spec: ModelSpec, path: Path, installed: bool, find_s: float, load_s: float
) -> None:
    from modelhub.config import load_settings

    target = load_settings().spark_load_log
    if not target:
        return
    row = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "key": spec.key,
        "label": spec.label,
        "options": repr(spec.options),
        "path": str(path),
        "installed": installed,
        "files_s": round(find_s, 4),
        "load_s": round(load_s, 4),
        "time": time.time(),
    }
    try:
        d = Path(target)
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"{row['host']}-{row['pid']}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
    except OSError as exc:
        log.warning("cannot write the load log in %s: %s", target, exc)
