"""What the driver resolves once and every task carries: :class:`ModelSpec`.

The driver resolves the name, pulls and verifies the artifact into its own
cache, picks the loader, and (``ship=True``) packs the verified entry and
registers it with ``SparkContext.addFile``.  The spec that goes to the tasks
is small (the artifact record and the manifest, no weights), and it names
the model's identity: the artifact key plus a digest of every file's
sha256, the loader and the loader options.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.api import local_model_dir
from modelhub.errors import IntegrityError

log = logging.getLogger(__name__)

# Loaders known to take ``num_threads`` (a third-party loader gets it only when asked).
THREADED_LOADERS = frozenset({"bert", "sparknlp_bert"})


@dataclass(frozen=True)
class ModelSpec:
    """A model as the executors need it.

    ``artifact``/``manifest`` describe a catalog model and the driver's
    verified cache entry (``manifest`` is :meth:`Manifest.to_dict`);
    ``shipped`` is the ``SparkContext.addFile`` name of the packed entry, or
    None when executors use their own cache; ``local_path`` is set instead
    for a local model directory (it must exist at the same path on every
    executor).  ``options`` are the loader options, sorted."""

    label: str
    loader: str
    options: tuple[tuple[str, Any], ...]
    artifact: Any = None  # modelhub.registry.artifact.Artifact
    manifest: dict[str, Any] | None = None
    shipped: str | None = None
    local_path: str | None = None

    @property
    def key(self) -> str:
        if self.manifest is not None:
            return str(self.manifest["key"])
        return str(self.local_path)

    @property
    def content_digest(self) -> str:
        """sha256 over the sorted (path, sha256) of every file: the content's identity."""
        if self.manifest is None:
            return ""
        files = sorted((f["path"], f["sha256"]) for f in self.manifest["files"])
        return hashlib.sha256(json.dumps(files).encode()).hexdigest()

    @property
    def identity(self) -> tuple[Any, ...]:
        """The worker cache key: same identity, same loaded model."""
        return (self.key, self.content_digest, self.loader, repr(self.options))

    def loader_options(self) -> dict[str, Any]:
        return dict(self.options)


def prepare(
    sc: Any,
    name: str | Path,
    lang: str,
    *,
    version: str | None,
    loader: str | None,
    offline: bool | None,
    ship: bool,
    options: dict[str, Any],
) -> ModelSpec:
    """Resolves and pulls ``name`` on the driver (verified), chooses its
    loader, and ships the entry when ``ship``."""
    from modelhub.loaders.discovery import (
        accepted_engines,
        get_loader,
        installed_loaders,
        select_loader,
    )

    opts = tuple(sorted(options.items()))
    local = local_model_dir(name)
    if local is not None:
        chosen = select_loader(local, None, loader=loader)
        return ModelSpec(
            label=str(local), loader=chosen.name, options=opts, local_path=str(local.resolve())
        )

    from modelhub.registry.catalog.resolve import resolve
    from modelhub.registry.pulling import pull_result

    loaders = [get_loader(loader)] if loader else installed_loaders()
    engines = accepted_engines(loaders)
    artifact = resolve(str(name), lang, version=version, engines=list(engines) or None)
    result = pull_result(artifact, offline=offline)
    chosen = select_loader(result.path, artifact.record, loader=loader)
    entry = result.entry
    shipped = None
    if ship:
        try:
            shipped = _ship(sc, entry)
        except IntegrityError as exc:
            # The driver's cache went bad since it was installed: repair it once.
            log.warning("%s; re-downloading it before shipping", exc)
            entry = pull_result(artifact, offline=offline, verify=True).entry
            shipped = _ship(sc, entry)
    label = f"{artifact.name} ({artifact.language or 'xx'})"
    log.info(
        "%s resolved to %s (loader %s)%s",
        label,
        entry.key,
        chosen.name,
        f", shipped as {shipped}" if shipped else "",
    )
    return ModelSpec(
        label=label,
        loader=chosen.name,
        options=opts,
        artifact=artifact,
        manifest=entry.manifest.to_dict(),
        shipped=shipped,
    )


# Packed entries already registered with a SparkContext: (app id, key, content) -> name.
_SHIPPED: dict[tuple[str, str, str], str] = {}
_SHIP_LOCK = threading.Lock()
_TMP: list[Path] = []


def _tmp_dir() -> Path:
    if not _TMP:
        d = Path(tempfile.mkdtemp(prefix="modelhub-spark-"))
        atexit.register(shutil.rmtree, d, True)
        _TMP.append(d)
    return _TMP[0]


def _ship(sc: Any, entry: Any) -> str:
    """Packs ``entry`` (verifying every byte against its manifest) and
    registers it with ``sc.addFile``, once per SparkContext and content."""
    from modelhub.registry.store.layout import entry_id
    from modelhub.spark.ship import pack_entry

    ident = (str(sc.applicationId), entry.key, entry.manifest.content)
    with _SHIP_LOCK:
        name = _SHIPPED.get(ident)
        if name is not None:
            return name
        name = f"modelhub-{entry_id(entry.key)}-{entry.manifest.content}.tar"
        target = _tmp_dir() / name
        pack_entry(entry, target)
        sc.addFile(str(target))
        _SHIPPED[ident] = name
        return name
