"""Converted weights kept in a prepared folder (:mod:`modelhub.loaders.sparknlp.prepared`):
``state.safetensors`` and the ``engine.json`` that says how to use them, written by a
loader's converter and read back, as data, on later loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.saferead import read_json

STATE_NAME = "state.safetensors"
INFO_NAME = "engine.json"
_SCALARS = (str, int, float, bool, type(None))


def save_state(folder: Path, state: dict[str, Any], info: dict[str, Any]) -> None:
    """Converted weights (``state.safetensors``) and what they need to be used
    (``engine.json``), written into a prepared folder's ``engine/``."""
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(folder / STATE_NAME))
    (folder / INFO_NAME).write_text(json.dumps(info, sort_keys=True), encoding="utf-8")


def load_state(folder: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The weights (torch tensors, memory-mapped, as transformers maps safetensors files:
    rewriting the file in place while the model lives is not allowed; deleting it is safe)
    and the description :func:`save_state` wrote, or None when ``folder`` holds inflated
    members instead. A file that is not what it wrote is an :class:`ArtifactFormatError`."""
    info_path, state_path = folder / INFO_NAME, folder / STATE_NAME
    if not info_path.is_file():
        return None
    try:
        info = read_json(info_path)  # an object, or UnsafeFileError (a ValueError)
    except (OSError, ValueError) as exc:
        raise damaged(info_path, str(exc)) from None
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(state_path))
    except (OSError, SafetensorError) as exc:
        raise damaged(state_path, str(exc)) from None
    return state, info


def plain_config(value: Any) -> bool:
    """Whether ``value`` is a model config as converters write them: an object whose
    values are JSON scalars or lists of them (what a prepared folder keeps is data)."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and _plain_value(v) for k, v in value.items()
    )


def _plain_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, _SCALARS) for v in value)
    return isinstance(value, _SCALARS)


def damaged(path: Path, why: str) -> ArtifactFormatError:
    return ArtifactFormatError(
        f"{path}: the prepared engine is damaged ({why[:200]}); delete its folder "
        "(modelhub cache verify --repair, or rm) and load again"
    )


__all__ = ["INFO_NAME", "STATE_NAME", "damaged", "load_state", "plain_config", "save_state"]
