"""sentence-transformers' module pipeline (``modules.json``), read and run in numpy.

A sentence-transformers directory lists its modules in ``modules.json``:
Transformer (the encoder; its ``sentence_bert_config.json`` gives
``max_seq_length`` and ``do_lower_case``), Pooling (``1_Pooling/config.json``),
Dense layers (``2_Dense/config.json`` + ``model.safetensors`` or
``pytorch_model.bin``), Normalize. :func:`read_modules` turns them into a
:class:`SentenceModules` whose :meth:`~SentenceModules.pool` and
:meth:`~SentenceModules.head` reproduce ``SentenceTransformer.encode`` on the
encoder's hidden states. A module type it does not know is refused with
:class:`UnsupportedModuleError` naming it: silently skipping one would give
other vectors than sentence-transformers.

No torch at module level (a pickled Dense layer imports it to read the file).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.errors import ArtifactFormatError

POOLING_MODES: tuple[str, ...] = (
    "cls",
    "max",
    "mean",
    "mean_sqrt_len_tokens",
    "weightedmean",
    "lasttoken",
)
# The pre-v6 boolean keys of 1_Pooling/config.json, in the order their vectors
# are concatenated.
_LEGACY_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


class UnsupportedModuleError(ArtifactFormatError):
    """``modules.json`` names a module (or a module setting) modelhub cannot run."""

    def __init__(self, message: str, *, module: str | None = None) -> None:
        self.module = module
        super().__init__(message)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _gelu(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))).astype(np.float32)


# torch.nn activation class names -> numpy functions (float32 in, float32 out)
_ACTIVATIONS: dict[str, Any] = {
    "Identity": lambda x: x,
    "Tanh": np.tanh,
    "ReLU": lambda x: np.maximum(x, 0),
    "Sigmoid": lambda x: (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32),
    "SiLU": lambda x: (x / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32),
    "GELU": _gelu,
    "LeakyReLU": lambda x: np.where(x >= 0, x, 0.01 * x),
    "ELU": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "Softplus": lambda x: np.logaddexp(0, x.astype(np.float64)).astype(np.float32),
}


@dataclass(frozen=True, eq=False)
class Dense:
    """``activation(x @ weight.T + bias)`` (+ ``x`` or a projection of it with
    ``use_residual``), as sentence-transformers' Dense module."""

    weight: np.ndarray  # (out, in)
    bias: np.ndarray | None
    activation: str  # a key of _ACTIVATIONS
    residual: np.ndarray | None = None  # (out, in) projection, when in != out
    use_residual: bool = False

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        y = _ACTIVATIONS[self.activation](y.astype(np.float32, copy=False))
        if self.use_residual:
            y = y + (x if self.residual is None else x @ self.residual.T)
        return np.asarray(y, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class SentenceModules:
    """What ``modules.json`` asks for after the Transformer."""

    root: Path
    max_seq_length: int | None = None  # sentence_bert_config.json
    do_lower_case: bool = False
    modes: tuple[str, ...] = ("mean",)
    include_prompt: bool = True
    dense: tuple[Dense, ...] = field(default_factory=tuple)
    normalize: bool = False

    def output_dim(self, hidden: int) -> int:
        return self.dense[-1].out_features if self.dense else hidden * len(self.modes)

    def pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pooling: ``hidden`` float32 ``(batch, seq, dim)``, ``mask`` ``(batch,
        seq)`` (right-padded) -> ``(batch, dim * len(modes))``."""
        return pool(hidden, mask, self.modes)

    def head(self, pooled: np.ndarray) -> np.ndarray:
        """Dense layers, then Normalize."""
        x = pooled
        for layer in self.dense:
            x = layer(x)
        if self.normalize:
            norms = np.linalg.norm(x, axis=-1, keepdims=True)
            x = x / np.maximum(norms, 1e-12)
        return np.asarray(x, dtype=np.float32)


def pool(hidden: np.ndarray, mask: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """sentence-transformers' Pooling in numpy, for right-padded batches; the
    modes' vectors are concatenated in the order given."""
    m = mask.astype(np.float32)[:, :, None]
    out: list[np.ndarray] = []
    counts = np.maximum(m.sum(axis=1), 1e-9)
    for mode in modes:
        if mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(np.where(m > 0, hidden, -np.inf).max(axis=1))
        elif mode == "mean":
            out.append((hidden * m).sum(axis=1) / counts)
        elif mode == "mean_sqrt_len_tokens":
            out.append((hidden * m).sum(axis=1) / np.sqrt(counts))
        elif mode == "weightedmean":
            w = m * np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
            out.append((hidden * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-9))
        elif mode == "lasttoken":
            last = np.maximum(mask.sum(axis=1).astype(np.int64) - 1, 0)
            out.append(hidden[np.arange(hidden.shape[0]), last] * (mask.sum(axis=1) > 0)[:, None])
        else:  # read_modules admits only POOLING_MODES
            raise AssertionError(mode)
    result = out[0] if len(out) == 1 else np.concatenate(out, axis=-1)
    return np.asarray(result, dtype=np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactFormatError(f"{path}: missing (modules.json refers to it)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactFormatError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ArtifactFormatError(f"{path}: expected a JSON object")
    return data


def _kind(type_name: str) -> str:
    """``sentence_transformers.models.Pooling`` and v6's
    ``sentence_transformers.sentence_transformer.modules.pooling.Pooling`` are
    both ``Pooling``; other packages' modules are not sentence-transformers'."""
    if not type_name.startswith("sentence_transformers."):
        return ""
    return type_name.rsplit(".", 1)[-1]


def _pooling_modes(config: dict[str, Any], where: Path) -> tuple[str, ...]:
    raw = config.get("pooling_mode")
    if raw is None:
        modes = tuple(mode for key, mode in _LEGACY_MODES.items() if config.get(key))
        modes = modes or ("mean",)
    elif isinstance(raw, str):
        modes = (raw,)
    elif isinstance(raw, list) and raw and all(isinstance(m, str) for m in raw):
        modes = tuple(raw)
    else:
        raise UnsupportedModuleError(f"{where}: pooling_mode {raw!r} is not a mode or a list")
    legacy_alias = {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}
    modes = tuple(legacy_alias.get(m, m) for m in modes)
    bad = [m for m in modes if m not in POOLING_MODES]
    if bad:
        raise UnsupportedModuleError(
            f"{where}: pooling mode {bad[0]!r} is not one of {', '.join(POOLING_MODES)}",
            module="Pooling",
        )
    return modes


def _activation(name: Any, where: Path) -> str:
    if name is None:
        return "Identity"
    text = str(name)
    short = text.rsplit(".", 1)[-1]
    if not text.startswith("torch.") or short not in _ACTIVATIONS:
        raise UnsupportedModuleError(
            f"{where}: activation_function {text!r} is not supported (modelhub runs "
            f"torch.nn {', '.join(sorted(_ACTIVATIONS))})",
            module="Dense",
        )
    return short


def _dense_weights(folder: Path) -> dict[str, np.ndarray]:
    st = folder / "model.safetensors"
    if st.is_file():
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(st)))
        except Exception as exc:
            raise ArtifactFormatError(f"{st}: not a readable safetensors file ({exc})") from None
    pickle_file = folder / "pytorch_model.bin"
    if pickle_file.is_file():
        import torch

        try:
            state = torch.load(str(pickle_file), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ArtifactFormatError(
                f"{pickle_file}: not loadable with weights_only (tensors only) ({exc})"
            ) from None
        return {k: v.float().numpy() for k, v in state.items()}
    raise ArtifactFormatError(f"{folder}: a Dense module without model.safetensors or "
                              "pytorch_model.bin")  # fmt: skip


def _dense(folder: Path) -> Dense:
    config = _read_json(folder / "config.json")
    for key in ("module_input_name", "module_output_name"):
        value = config.get(key, "sentence_embedding")
        if value not in (None, "sentence_embedding"):
            raise UnsupportedModuleError(
                f"{folder}: Dense with {key}={value!r} (only 'sentence_embedding' is supported)",
                module="Dense",
            )
    activation = _activation(config.get("activation_function", "torch.nn.Tanh"), folder)
    weights = _dense_weights(folder)
    w = weights.get("linear.weight")
    if w is None or w.ndim != 2:
        raise ArtifactFormatError(f"{folder}: no 2-D linear.weight in the Dense weights")
    b = weights.get("linear.bias") if config.get("bias", True) else None
    ins, outs = config.get("in_features"), config.get("out_features")
    wrong_out = isinstance(outs, int) and w.shape[0] != outs
    if wrong_out or (isinstance(ins, int) and w.shape[1] != ins):
        raise ArtifactFormatError(
            f"{folder}: linear.weight is {tuple(w.shape)}, config.json says "
            f"{outs} x {ins} (out x in)"
        )
    use_residual = bool(config.get("use_residual", False))
    residual = weights.get("residual.weight") if use_residual else None
    if use_residual and w.shape[0] != w.shape[1] and residual is None:
        raise ArtifactFormatError(f"{folder}: use_residual without residual.weight")
    return Dense(
        weight=np.ascontiguousarray(w, dtype=np.float32),
        bias=None if b is None else np.ascontiguousarray(b, dtype=np.float32),
        activation=activation,
        residual=None if residual is None else np.ascontiguousarray(residual, dtype=np.float32),
        use_residual=use_residual,
    )


def read_modules(root: Path) -> SentenceModules | None:
    """The pipeline of the sentence-transformers directory ``root``; ``None``
    when it has no ``modules.json`` (a plain transformers directory)."""
    listing = root / "modules.json"
    if not listing.is_file():
        return None
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactFormatError(f"{listing}: not readable JSON ({exc})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ArtifactFormatError(f"{listing}: expected a list of module objects")
    settings: dict[str, Any] = {"root": root}
    dense: list[Dense] = []
    seen: list[str] = []
    for entry in sorted(entries, key=lambda e: int(e.get("idx", 0))):
        type_name = str(entry.get("type", ""))
        kind = _kind(type_name)
        folder = root / str(entry.get("path", ""))
        if kind == "Transformer":
            if seen:
                raise UnsupportedModuleError(f"{listing}: the Transformer must come first")
            if folder.resolve() != root.resolve():
                raise UnsupportedModuleError(
                    f"{listing}: the Transformer lives in {entry.get('path')!r}; modelhub reads "
                    "sentence-transformers directories whose Transformer is the directory itself",
                    module=type_name,
                )
            st = folder / "sentence_bert_config.json"
            config = _read_json(st) if st.is_file() else {}
            if isinstance(config.get("max_seq_length"), int):
                settings["max_seq_length"] = int(config["max_seq_length"])
            settings["do_lower_case"] = bool(config.get("do_lower_case", False))
        elif kind == "Pooling":
            config = _read_json(folder / "config.json")
            settings["modes"] = _pooling_modes(config, folder / "config.json")
            settings["include_prompt"] = bool(config.get("include_prompt", True))
        elif kind == "Dense":
            dense.append(_dense(folder))
        elif kind == "Normalize":
            settings["normalize"] = True
        else:
            raise UnsupportedModuleError(
                f"{listing}: module {type_name!r} ({entry.get('path')!r}) is not supported; "
                "modelhub runs Transformer, Pooling, Dense and Normalize",
                module=type_name,
            )
        seen.append(kind)
    if not seen or seen[0] != "Transformer":
        raise UnsupportedModuleError(f"{listing}: no Transformer module comes first")
    if "Pooling" not in seen:
        raise UnsupportedModuleError(
            f"{listing}: no Pooling module (modelhub needs one to make a sentence vector)"
        )
    if seen.index("Pooling") > min((i for i, k in enumerate(seen) if k == "Dense"), default=99):
        raise UnsupportedModuleError(f"{listing}: a Dense module before the Pooling module")
    if "Normalize" in seen and seen.index("Normalize") < max(
        (i for i, k in enumerate(seen) if k == "Dense"), default=-1
    ):
        raise UnsupportedModuleError(f"{listing}: a Dense module after the Normalize module")
    return SentenceModules(dense=tuple(dense), **settings)
