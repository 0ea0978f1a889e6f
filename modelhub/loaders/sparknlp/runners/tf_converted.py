"""A TensorFlow engine converted once, for a prepared folder
(:mod:`modelhub.loaders.sparknlp.prepared`): what :mod:`.tensorflow` makes of the zip's
checkpoint and GraphDef (the weights under transformers' names, already transposed; the
model config the GraphDef's facts settle) kept as ``state.safetensors`` and
``tensorflow.json``, so that a later load builds the torch model straight from them
instead of parsing the checkpoint, the object graph and the GraphDef again.

Both files are data: the JSON's model type must be one the runner knows, its config plain
JSON values, and the weights go through the runner's own checks (every name and shape
against the model) on every load. The weights are memory-mapped, as transformers maps
safetensors files: the model's parameters read the file's pages, so the file must not be
rewritten in place while the model lives (a cache entry's lease keeps ``modelhub cache``
off it; deleting it is safe).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import Family
from modelhub.loaders.sparknlp.runners.tensorflow import (
    _BASE_PREFIX,
    _Engine,
    _read_engine,
    engine_config,
    need_torch,
)
from modelhub.loaders.sparknlp.runners.tf_graph import GraphFacts

INFO = "tensorflow.json"
STATE = "state.safetensors"
_SCALARS = (str, int, float, bool, type(None))


def write_converted(engine_file: Path, family: Family, target: Path) -> None:
    """Reads the engine zip (checked as a load from the zip is) and writes its converted
    weights and config into the empty folder ``target``."""
    from safetensors.numpy import save_file

    need_torch(engine_file)
    engine = _read_engine(engine_file, family)
    cfg = engine_config(engine, engine_file)
    save_file(dict(engine.state), str(target / STATE))
    info = {
        "model_type": engine.model_type,
        "scheme": engine.scheme,
        "config": cfg,
        "origin": engine.origin,
    }
    (target / INFO).write_text(json.dumps(info, sort_keys=True), encoding="utf-8")


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, _SCALARS) for v in value)
    return isinstance(value, _SCALARS)


def read_converted(folder: Path, engine_file: Path) -> tuple[_Engine, dict[str, Any]] | None:
    """The engine and config a prepared folder holds, or None when it holds the zip's
    members instead (an ONNX or OpenVINO engine). A file that is not what
    :func:`write_converted` writes is an :class:`ArtifactFormatError` naming it."""
    info_path, state_path = folder / INFO, folder / STATE
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(info_path, str(exc)) from None
    model_type, cfg, origin = (
        (
            info.get("model_type"),
            info.get("config"),
            info.get("origin"),
        )
        if isinstance(info, dict)
        else (None, None, None)
    )
    if (
        model_type not in _BASE_PREFIX
        or not isinstance(cfg, dict)
        or not all(isinstance(k, str) and _plain(v) for k, v in cfg.items())
        or not isinstance(origin, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in origin.items())
        or not isinstance(info.get("scheme"), str)
    ):
        raise _damaged(info_path, "not the converted engine's description")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(state_path))
    except (OSError, SafetensorError) as exc:
        raise _damaged(state_path, str(exc)) from None
    facts = GraphFacts(None, None, None, None, None, frozenset())
    return _Engine(state, origin, facts, info["scheme"], model_type), cfg  # type: ignore[arg-type]


def _damaged(path: Path, why: str) -> ArtifactFormatError:
    return ArtifactFormatError(
        f"{path}: the prepared TensorFlow engine is damaged ({why[:200]}); delete its "
        "folder (modelhub cache verify --repair, or rm) and load again"
    )


__all__ = ["INFO", "STATE", "read_converted", "write_converted"]
