"""The ONNX Runtime engine of BERT-family Hugging Face directories.

:func:`onnx_encoder` gives an :class:`OnnxEncoder` (``encoder(input_ids,
attention_mask, token_type_ids) -> float32 [batch, seq, hidden]``) or None,
meaning "run torch":

* ``engine="torch"``: None.
* ``engine="auto"`` (the default): ONNX when onnxruntime is installed, a
  derived folder is given and the export passes its self-check; otherwise
  None (a failed export or check logs one warning and is remembered in the
  derived folder, so later loads go straight to torch).
* ``engine="onnx"``: ONNX, or :class:`~modelhub.errors.EngineUnavailable`.

The export (:mod:`modelhub.loaders.engines.onnx_export`) runs once per model and
settings, on the first load; the self-check then compares the graph's hidden
states with torch's on a fixed probe batch (padded rows included) and passes
when the largest absolute difference over real tokens is at most
:data:`CHECK_BOUND`. Later loads check the derived file's size and mtime
against its manifest, re-hashing it when they differ (a rewritten or truncated
file is never loaded: it is deleted and exported again), and open it without
touching torch. Without a derived folder (``load_path`` on a
directory, no cache) ``engine="onnx"`` exports into a temporary folder on
every load; ``"auto"`` stays on torch.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.derived import check_folder, discard, read_manifest, write_folder
from modelhub.errors import ArtifactFormatError, EngineUnavailable
from modelhub.loaders.engines.onnx_export import (
    FOLDER_PREFIX,
    ONNX_NAME,
    ExportSettings,
    derived_key,
    export_onnx,
    source_digest,
    versions,
)
from modelhub.loaders.hf import HFDirectory

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
#: Largest absolute difference of float32 hidden states the self-check accepts.
CHECK_BOUND = 1e-4
#: The int8 graph (``dtype="int8"``, lossy) passes when every token vector keeps at
#: least this cosine to torch's float32 one.
INT8_MIN_COSINE = 0.98
# Probe rows: lengths and padding that exercise the mask (a full row, padded rows,
# a one-token row), with token ids spread over the vocabulary.
_PROBE_LENGTHS = (23, 17, 9, 3)


def make_session(path: Path, *, num_threads: int | None = None) -> Any:
    """An onnxruntime CPU session with the settings ``bench/onnx_matrix.py``
    measured fastest for BERT encoders: every graph optimization, sequential
    execution, intra-op threads = ``num_threads`` (default: onnxruntime's, one
    per physical core), no spinning threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if num_threads:
        options.intra_op_num_threads = num_threads
    # Spinning worker threads keep burning the cores after each run: on a small or
    # shared CPU they slow whatever runs next (torch, the tokenizer, other processes).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers are not the user's
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ArtifactFormatError(f"{path}: onnxruntime cannot load this graph ({exc})") from None


class OnnxEncoder:
    """An exported encoder: ``encoder(input_ids, attention_mask,
    token_type_ids)`` takes int arrays ``[batch, seq]`` (numpy or torch) and
    returns the last hidden states as float32 numpy ``[batch, seq, hidden]``."""

    name = "onnx"
    device = "cpu"
    dtype = "float32"

    def __init__(
        self, path: Path, *, num_threads: int | None = None, dtype: str = "float32"
    ) -> None:
        self.path = Path(path)
        self.dtype = dtype
        self.session = make_session(self.path, num_threads=num_threads)
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self.output = self.session.get_outputs()[0].name

    def __call__(
        self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None
    ) -> np.ndarray:
        ids = _numpy(input_ids)
        feed = {"input_ids": ids, "attention_mask": _numpy(attention_mask)}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = (
                np.zeros_like(ids) if token_type_ids is None else _numpy(token_type_ids)
            )
        out = self.session.run([self.output], feed)[0]
        return np.asarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"OnnxEncoder({str(self.path)!r})"


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.int64)


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def probe_batch(hf: HFDirectory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed batch of token ids with padded rows, for the self-check."""
    vocab = int(hf.config.get("vocab_size", 0) or 0)
    pad = hf.config.get("pad_token_id")
    pad = int(pad) if isinstance(pad, int) else 0
    width = max(_PROBE_LENGTHS)
    ids = np.full((len(_PROBE_LENGTHS), width), pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    rng = np.random.default_rng(17)
    low = min(pad + 3, max(vocab - 1, 1))  # past the usual special tokens
    for r, n in enumerate(_PROBE_LENGTHS):
        ids[r, :n] = rng.integers(low, max(vocab, low + 1), n)
        mask[r, :n] = 1
    return ids, mask, np.zeros_like(ids)


def torch_hidden(model: Any, ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None) -> Any:
    import torch

    inputs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if types is not None:
        inputs["token_type_ids"] = torch.from_numpy(types)
    with torch.inference_mode():
        return model(**inputs).last_hidden_state.float().numpy()


def self_check(encoder: OnnxEncoder, model: Any, hf: HFDirectory) -> tuple[float, float]:
    """The largest absolute difference and the smallest cosine between the
    graph's and torch's hidden states over the real (unpadded) tokens of
    :func:`probe_batch`."""
    ids, mask, types = probe_batch(hf)
    uses_types = "token_type_ids" in encoder.inputs
    ref = torch_hidden(model, ids, mask, types if uses_types else None)
    got = encoder(ids, mask, types)
    keep = mask.astype(bool)
    r, g = ref[keep].astype(np.float64), got[keep].astype(np.float64)
    cos = (r * g).sum(-1) / np.maximum(
        np.linalg.norm(r, axis=-1) * np.linalg.norm(g, axis=-1), 1e-30
    )
    return float(np.abs(r - g).max()), float(cos.min())


def onnx_encoder(
    hf: HFDirectory,
    *,
    engine: str = "auto",
    derived_dir: Path | None = None,
    num_threads: int | None = None,
    torch_model: Callable[[], Any],
    settings: ExportSettings | None = None,
) -> OnnxEncoder | None:
    """The ONNX encoder for ``hf`` or None for torch (see the module doc).
    ``torch_model()`` gives the loaded float32 torch model; it is called only
    when a graph is exported and self-checked."""
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}: use 'auto', 'onnx' or 'torch'")
    if engine == "torch":
        return None
    forced = engine == "onnx"
    if not onnxruntime_installed():
        if forced:
            raise EngineUnavailable(
                "engine='onnx' needs onnxruntime: pip install 'modelhub[onnx]' "
                "(or use engine='torch')"
            )
        log.debug("onnxruntime is not installed: %s runs with torch", hf.root)
        return None
    settings = settings or ExportSettings()
    if derived_dir is None:
        if not forced:
            log.debug("no derived folder for %s: it runs with torch", hf.root)
            return None
        with tempfile.TemporaryDirectory(prefix="modelhub-onnx-") as tmp:
            folder = _derive(hf, Path(tmp), "onnx-tmp", settings, num_threads, torch_model)
            return _open(hf, folder, forced=True, fresh=True, num_threads=num_threads)
    derived_dir = Path(derived_dir)
    try:
        key = derived_key(source_digest(hf, derived_dir), settings, versions())
    except ImportError as exc:  # torch or transformers missing: nothing to export from
        if forced:
            raise EngineUnavailable(f"engine='onnx' cannot export {hf.root}: {exc}") from exc
        return None
    folder = derived_dir / f"{FOLDER_PREFIX}{key}"
    manifest = read_manifest(folder)
    if manifest is not None:
        # Size and mtime, re-hashing only a file that was rewritten (the cache's
        # policy for its entries); `modelhub cache verify` re-hashes everything.
        problems = check_folder(folder, hashes="stamp", manifest=manifest)
        if not problems:
            return _open(hf, folder, forced=forced, fresh=False, num_threads=num_threads)
        log.warning(
            "the derived ONNX model %s is damaged (%s): deleting it and exporting again",
            folder,
            "; ".join(problems),
        )
        discard(folder)
    try:
        folder = _derive(hf, derived_dir, folder.name, settings, num_threads, torch_model)
    except OSError as exc:  # a read-only cache: no export to keep
        if forced:
            raise EngineUnavailable(f"cannot write the ONNX export of {hf.root}: {exc}") from exc
        log.warning("cannot write the ONNX export of %s (%s): using torch", hf.root, exc)
        return None
    return _open(hf, folder, forced=forced, fresh=True, num_threads=num_threads)


def _derive(
    hf: HFDirectory,
    parent: Path,
    name: str,
    settings: ExportSettings,
    num_threads: int | None,
    torch_model: Callable[[], Any],
) -> Path:
    """Export, self-check and record in one atomic derived folder. A failed
    export is recorded too (``error`` in the manifest, no graph), so it is
    not attempted on every load."""

    def build(tmp: Path) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "kind": "onnx",
            "model": str(hf.root),
            "settings": settings.to_dict(),
            "versions": versions(),
        }
        started = time.perf_counter()
        try:
            meta.update(export_onnx(hf, tmp, settings))
            encoder = OnnxEncoder(tmp / ONNX_NAME, num_threads=num_threads)
            diff, cosine = self_check(encoder, torch_model(), hf)
        except Exception as exc:  # the exporters raise anything; record, fall back
            for p in tmp.iterdir():
                p.unlink()
            meta["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            return meta
        if settings.quantize == "none":
            passed = diff <= CHECK_BOUND
            bound = {"bound": CHECK_BOUND}
        else:  # lossy by request: bounded by the direction of the token vectors
            passed = cosine >= INT8_MIN_COSINE
            bound = {"min_cosine_bound": INT8_MIN_COSINE}
        meta["check"] = {"max_abs": diff, "min_cosine": cosine, "passed": passed, **bound}
        meta["export_seconds"] = round(time.perf_counter() - started, 3)
        return meta

    folder = write_folder(parent, name, build)
    manifest = read_manifest(folder) or {}
    if manifest.get("error") is None:
        log.info(
            "exported %s to ONNX in %.1fs (fusions %s; self-check max abs %.2g)",
            hf.root,
            manifest.get("export_seconds", 0.0),
            manifest.get("fusions"),
            manifest.get("check", {}).get("max_abs", float("nan")),
        )
    return folder


def passed_check(
    manifest: dict[str, Any],
    *,
    root: Path,
    engine: str,
    made: str,
    what: str,
    forced: bool,
    fresh: bool,
) -> bool:
    """Whether a derived folder's conversion (``manifest``) may run: ``False`` when it
    failed or failed its self-check against torch (logged: a warning when ``fresh``, made
    by this load, else info), so that ``engine="auto"`` goes on to the next engine. With
    ``forced`` (the engine asked for by name) a failure raises :class:`EngineUnavailable`
    and a failed check runs anyway, with a warning. ``made`` says what was done
    (``"exported to ONNX"``), ``what`` names the result (``"ONNX export"``). Shared by the
    derived engines (ONNX Runtime, OpenVINO)."""
    error = manifest.get("error")
    if error:
        message = f"{root} could not be {made} ({error})"
        if forced:
            raise EngineUnavailable(f"engine={engine!r}: {message}")
        # Warned once, when it happened; later loads just go on to the next engine.
        (log.warning if fresh else log.info)("%s: using the next engine", message)
        return False
    check = manifest.get("check") or {}
    if check.get("passed"):
        return True
    bounds = f"bound {check.get('bound')}"
    if "min_cosine" in check:
        bounds += f"; min cosine {check.get('min_cosine')}, bound {check.get('min_cosine_bound')}"
    message = f"the {what} of {root} differs from torch by up to {check.get('max_abs')} ({bounds})"
    if not forced:
        (log.warning if fresh else log.info)("%s: using the next engine", message)
        return False
    log.warning("%s: using it anyway (engine=%r)", message, engine)
    return True


def _open(
    hf: HFDirectory, folder: Path, *, forced: bool, fresh: bool, num_threads: int | None
) -> OnnxEncoder | None:
    """The encoder of a verified derived folder; ``fresh``: derived by this
    load (a failure is then worth a warning; later loads only log it)."""
    manifest = read_manifest(folder) or {}
    if not passed_check(
        manifest,
        root=hf.root,
        engine="onnx",
        made="exported to ONNX",
        what="ONNX export",
        forced=forced,
        fresh=fresh,
    ):
        return None
    quantized = (manifest.get("settings") or {}).get("quantize", "none") != "none"
    return OnnxEncoder(
        folder / ONNX_NAME, num_threads=num_threads, dtype="int8" if quantized else "float32"
    )
