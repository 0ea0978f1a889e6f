"""The engines of Spark NLP transformer zips behind one small interface, :class:`Runner`:
int64 ids and mask ``[B, T]`` in, named float32 outputs out (``last_hidden_state`` and,
where the graph has them, ``pooler_output``, ``sentence_embedding``, ``token_embeddings``).

A runner never changes the mask: the model applies its family's mask rule before calling,
and a runner feeds only the inputs its graph declares (DistilBERT, MPNet and RoBERTa ONNX
graphs take no ``token_type_ids``).

:func:`open_runner` dispatches on the engine through :data:`RUNNERS` ("module:function"
strings imported lazily), so that listing loaders imports no engine package, and an engine
whose runner module is absent from this install, or whose package is not installed, is a
typed :class:`~modelhub.errors.ArtifactFormatError` naming the pip extra.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modelhub.errors import ArtifactFormatError

if TYPE_CHECKING:  # listing loaders imports no numpy
    import numpy as np

    from modelhub.loaders.sparknlp.families import Family

#: engine -> "module:function" that opens its runner.
RUNNERS: dict[str, str] = {
    "onnx": "modelhub.loaders.sparknlp.runners.onnx:open_onnx",
    "openvino": "modelhub.loaders.sparknlp.runners.openvino:open_openvino",
    "tensorflow": "modelhub.loaders.sparknlp.runners.tensorflow:open_tensorflow",
}
#: engine -> the pip extra that installs what its runner needs.
EXTRAS: dict[str, str] = {"onnx": "onnx", "openvino": "openvino", "tensorflow": "torch"}
#: engine -> the package its runner imports (checked before the runner is opened).
PACKAGES: dict[str, str] = {"onnx": "onnxruntime", "openvino": "openvino", "tensorflow": "torch"}


@runtime_checkable
class Runner(Protocol):
    """One engine graph, ready to run (see the module docstring)."""

    engine: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    hidden_size: int

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]: ...


def _module_present(engine: str) -> bool:
    module = RUNNERS[engine].partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_engines() -> tuple[str, ...]:
    """The engines whose runner module ships with this install (their packages may still
    be missing: :func:`open_runner` says which extra to install)."""
    return tuple(e for e in RUNNERS if _module_present(e))


def engine_package_installed(engine: str) -> bool:
    try:
        return importlib.util.find_spec(PACKAGES[engine]) is not None
    except (ImportError, ValueError, KeyError):
        return False


def open_runner(
    engine: str,
    engine_file: Path,
    family: Family,
    *,
    root: Path | None = None,
    threads: int | None = None,
    unpacked: Path | None = None,
    plain_graph: Path | None = None,
) -> Runner:
    """The runner of ``engine`` for ``engine_file`` (the ``*_onnx`` / ``*_openvino`` /
    ``*_tensorflow`` zip of the model folder ``root``); ``unpacked``: the zip's members
    already inflated into a folder (:mod:`~modelhub.loaders.sparknlp.prepared`), among them
    ``plain_graph``, an ONNX graph checked self-contained."""
    engine = engine.lower()
    if engine not in RUNNERS:
        raise ArtifactFormatError(
            f"{engine_file}: unknown engine {engine!r} (modelhub runs {', '.join(RUNNERS)})"
        )
    if not _module_present(engine):
        raise ArtifactFormatError(
            f"{engine_file}: this modelhub install has no {engine} runner for Spark NLP zips "
            f"(module {RUNNERS[engine].partition(':')[0]} is absent); upgrade modelhub"
        )
    if not engine_package_installed(engine):
        raise ArtifactFormatError(
            f"{engine_file}: running the {engine} engine needs the '{PACKAGES[engine]}' package "
            f"(pip install 'modelhub[{EXTRAS[engine]}]')"
        )
    module_name, _, func_name = RUNNERS[engine].partition(":")
    opener: Any = getattr(importlib.import_module(module_name), func_name)
    kw: dict[str, Any] = {"threads": threads}
    if unpacked is not None:
        kw["unpacked"] = unpacked
    if plain_graph is not None and engine == "onnx":
        kw["plain_graph"] = plain_graph
    if engine == "tensorflow":
        kw["root"] = root or Path(engine_file).parent
    return opener(engine_file, family, **kw)  # type: ignore[no-any-return]


__all__ = [
    "EXTRAS",
    "PACKAGES",
    "RUNNERS",
    "Runner",
    "available_engines",
    "engine_package_installed",
    "open_runner",
]
