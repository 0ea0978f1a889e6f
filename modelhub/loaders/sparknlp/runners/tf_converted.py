"""A TensorFlow engine converted once, for a prepared folder
(:mod:`modelhub.loaders.sparknlp.prepared`): what :mod:`.tensorflow` makes of the zip's
checkpoint and GraphDef (the weights under transformers' names, already transposed; the
model config the GraphDef's facts settle), kept with
:func:`~modelhub.loaders.sparknlp.prepared.save_state`, so that a later load builds the
torch model straight from them instead of parsing the checkpoint, the object graph and the
GraphDef again.

What is read back is data: the model type must be one the runner knows, the config plain
JSON values, and the weights go through the runner's own checks (every name and shape
against the model) on every load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelhub.loaders.sparknlp.families import Family
from modelhub.loaders.sparknlp.prepared import damaged, load_state, plain_json, save_state
from modelhub.loaders.sparknlp.runners.tensorflow import (
    _BASE_PREFIX,
    _Engine,
    _read_engine,
    engine_config,
    need_torch,
)
from modelhub.loaders.sparknlp.runners.tf_graph import GraphFacts


def write_converted(engine_file: Path, family: Family, target: Path) -> None:
    """Reads the engine zip (checked as a load from the zip is) and writes its converted
    weights and config into the empty folder ``target``."""
    need_torch(engine_file)
    engine = _read_engine(engine_file, family)
    info = {
        "model_type": engine.model_type,
        "scheme": engine.scheme,
        "config": engine_config(engine, engine_file),
        "origin": engine.origin,
    }
    save_state(target, engine.state, info)


def read_converted(folder: Path, engine_file: Path) -> tuple[_Engine, dict[str, Any]] | None:
    """The engine and config a prepared folder holds, or None when it holds the zip's
    members instead. A description that is not what :func:`write_converted` writes is an
    :class:`~modelhub.errors.ArtifactFormatError` naming the file."""
    found = load_state(folder)
    if found is None:
        return None
    state, info = found
    cfg, origin, scheme = info.get("config"), info.get("origin"), info.get("scheme")
    model_type = info.get("model_type")
    if (
        model_type not in _BASE_PREFIX
        or not isinstance(cfg, dict)
        or not all(isinstance(k, str) and plain_json(v) for k, v in cfg.items())
        or not isinstance(origin, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in origin.items())
        or not isinstance(scheme, str)
    ):
        raise damaged(folder, "not a converted TensorFlow engine's description")
    facts = GraphFacts(None, None, None, None, None, frozenset())
    return _Engine(state, origin, facts, scheme, str(model_type)), cfg


__all__ = ["read_converted", "write_converted"]
