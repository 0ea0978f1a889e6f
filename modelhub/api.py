"""The public API that joins the registry (resolve, fetch, verify, cache) and
the loaders (turn a verified directory into a model).

Registry and loaders never import each other; this module is where they meet,
and it imports both lazily so ``import modelhub`` stays cheap.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.derived import DERIVED_DIR
from modelhub.errors import OptionError
from modelhub.loaders.discovery import (
    accepted_engines,
    get_loader,
    installed_loaders,
    load_path,
)
from modelhub.registry.catalog.resolve import DEFAULT_FOLDER

if TYPE_CHECKING:
    from modelhub.loaders.model import EmbeddingModel
    from modelhub.registry.artifact import Artifact
    from modelhub.registry.catalog.catalog import Catalog

log = logging.getLogger(__name__)


class _Installed:
    def __repr__(self) -> str:
        return "INSTALLED_ENGINES"


#: ``resolve(engines=...)`` default: the engines the installed loaders run.
INSTALLED_ENGINES: Any = _Installed()

# [sys.path the entry points were read with, their engines]
_engines_seen: list[Any] = [None, ()]


def installed_engines() -> list[str] | None:
    """The record engines the installed loaders run, read from the loader
    classes the entry points name (no torch imported) and kept while
    ``sys.path`` stays the same; None when no loader is installed (then no
    artifact is rejected by its engine, as in :func:`pretrained`)."""
    key = tuple(sys.path)
    if _engines_seen[0] != key:
        _engines_seen[0], _engines_seen[1] = key, accepted_engines()
    return list(_engines_seen[1]) or None


def resolve(
    name: str,
    lang: str | None = "en",
    *,
    version: str | None = None,
    folder: str | None = DEFAULT_FOLDER,
    source: str | None = None,
    engines: Collection[str] | None = INSTALLED_ENGINES,
    lib_version: str | None = None,
    spark_version: str | None = None,
    catalog: Catalog | None = None,
) -> Artifact:
    """:func:`modelhub.registry.catalog.resolve.resolve` for callers that will load
    the artifact here: ``engines`` defaults to what the installed loaders run
    (others are ranked out; ``modelhub explain`` says why); ``engines=None``
    accepts any engine."""
    from modelhub.registry.catalog.resolve import resolve as registry_resolve

    if engines is INSTALLED_ENGINES:
        engines = installed_engines()
    return registry_resolve(
        name,
        lang,
        version=version,
        folder=folder,
        source=source,
        engines=engines,
        lib_version=lib_version,
        spark_version=spark_version,
        catalog=catalog,
    )


def local_model_dir(name: str | Path) -> Path | None:
    """``name`` as a local model directory: a ``Path``, or a string that is
    clearly a path (``/``, ``./``, ``../``, ``~``) naming a directory; such
    a string naming no directory is an :class:`~modelhub.errors.OptionError`."""
    if isinstance(name, Path):
        return name
    if name.startswith(("/", "./", "../", "~")):
        path = Path(name).expanduser()
        if path.is_dir():
            return path
        # A path-like name is never a catalog name: say what is wrong with it.
        what = "is not a directory" if path.exists() else "does not exist"
        raise OptionError(
            f"no directory {name} ({path} {what}); a NAME starting with /, ./, ../ or ~ "
            "is a local model directory"
        )
    return None


def _entry_derived_dir(key: str, path: Path) -> Path | None:
    """``entries/<id>/derived`` of the cache entry ``path`` lies in (None when
    the model was not served from a cache entry: nothing is derived then)."""
    from modelhub.registry.store.store import Store

    try:
        entry = Store.from_settings().lookup(key)
    except Exception as exc:  # the cache became unusable since the pull
        log.debug("no derived folder for %s: %s", key, exc)
        return None
    if entry is None or not Path(path).resolve().is_relative_to(entry.dir.resolve()):
        return None
    return entry.dir / DERIVED_DIR


def _local_derived_dir(path: Path) -> Path | None:
    """Where files derived from a model directory outside the cache live:
    ``<cache>/derived/local/<digest of its resolved path>/`` (what is inside
    is keyed by the model files' SHA-256, so an edited directory is derived
    again). None when the settings name no usable cache."""
    from modelhub.config import load_settings

    try:
        root = Path(load_settings().cache_dir)
    except Exception as exc:  # a bad setting must not stop a local load
        log.debug("no derived folder for %s: %s", path, exc)
        return None
    digest = hashlib.sha256(str(path.expanduser().resolve()).encode()).hexdigest()[:16]
    return root / DERIVED_DIR / "local" / digest


def pretrained(
    name: str | Path,
    lang: str = "en",
    *,
    version: str | None = None,
    device: Any = "auto",
    dtype: Any = "auto",
    offline: bool | None = None,
    loader: str | None = None,
    **loader_options: Any,
) -> EmbeddingModel:
    """The model called ``name`` in language ``lang``, ready to run: an
    :class:`~modelhub.loaders.model.EmbeddingModel` (``encode``,
    ``encode_stream``, ``embed``, ``embed_sentences``).

    Resolves the name (only to artifacts whose engine an installed loader
    runs, or the forced ``loader``), fetches and verifies the artifact into
    the cache (``offline``: no network, the cache and local sources only;
    default from the settings), then hands the verified directory and its
    record to the highest-priority loader that accepts it. ``name`` may also
    be a local model directory (a ``Path`` or a path string starting with ``/``, ``./``, ``../`` or
    ``~``). ``loader_options`` go to the loader (``engine``, ``batch_size``,
    ``max_length``, ``normalize``, ``overflow``, ``num_threads`` for the BERT
    loader). ``device``/``dtype`` default to ``"auto"``: CUDA when available;
    float32 on a CPU (the same vectors on every machine), bfloat16 on GPUs that
    support it. A bad value is an :class:`~modelhub.errors.OptionError`.
    Loaders that derive files from the model (the BERT loader's ONNX export)
    keep them in ``entries/<id>/derived/`` of the cache entry, or
    ``<cache>/derived/local/`` for a local directory; ``derived_dir=None``
    keeps nothing (and ``engine="auto"`` then runs torch)."""
    return _pretrained(
        name,
        lang,
        version=version,
        device=device,
        dtype=dtype,
        offline=offline,
        loader=loader,
        annotator=None,
        **loader_options,
    )


def _pretrained(
    name: str | Path,
    lang: str,
    *,
    version: str | None,
    device: Any,
    dtype: Any,
    offline: bool | None,
    loader: str | None,
    annotator: str | None,
    **loader_options: Any,
) -> Any:
    options = {"device": device, "dtype": dtype, **loader_options}
    local = local_model_dir(name)
    if local is not None:
        options.setdefault("derived_dir", _local_derived_dir(local))
        return load_path(local, None, loader=loader, annotator=annotator, **options)

    from modelhub.registry.catalog.resolve import resolve
    from modelhub.registry.pulling import pull_leased

    loaders = [get_loader(loader)] if loader else installed_loaders()
    loaders = [lo for lo in loaders if lo.serves(annotator)]
    engines = accepted_engines(loaders)
    artifact = resolve(str(name), lang, version=version, engines=list(engines) or None)
    log.info("%s %s resolved to %s", name, lang, artifact.key)
    # The shared lease keeps `modelhub cache prune/rm` off the entry while the
    # model lives (it may read files lazily); it goes with the model.
    path, lease = pull_leased(artifact, offline=offline)
    if "derived_dir" not in options:
        options["derived_dir"] = _entry_derived_dir(artifact.key, path)
    try:
        model = load_path(path, artifact.record, loader=loader, annotator=annotator, **options)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    if lease is not None:
        try:
            model.cache_lease = lease
        except (AttributeError, TypeError):
            lease.release()
    return model


class BertEmbeddings:
    """Spark NLP-style entry point: ``BertEmbeddings.pretrained(name, lang)``
    gives a model whose ``embed(texts)`` returns one vector per token."""

    annotator = "BertEmbeddings"
    default_name = "small_bert_L2_768"

    @classmethod
    def pretrained(
        cls, name: str | Path | None = None, lang: str = "en", **options: Any
    ) -> EmbeddingModel:
        options.setdefault("version", None)
        options.setdefault("device", "auto")
        options.setdefault("dtype", "auto")
        options.setdefault("offline", None)
        options.setdefault("loader", None)
        return _pretrained(
            name if name is not None else cls.default_name,
            lang,
            annotator=cls.annotator,
            **options,
        )


class BertSentenceEmbeddings(BertEmbeddings):
    """``BertSentenceEmbeddings.pretrained(name, lang)``: use
    ``embed_sentences(texts)`` for one vector per text."""

    annotator = "BertSentenceEmbeddings"
    default_name = "sent_small_bert_L2_768"


__all__ = [
    "INSTALLED_ENGINES",
    "BertEmbeddings",
    "BertSentenceEmbeddings",
    "installed_engines",
    "pretrained",
    "resolve",
]
