"""The OpenVINO engine of BERT-family Hugging Face directories.

:func:`openvino_encoder` gives an :class:`OpenVinoEncoder` (``encoder(input_ids,
attention_mask, token_type_ids) -> float32 [batch, seq, hidden]``) or None, meaning "use
the next engine", with the same contract as :func:`~modelhub.loaders.engines.onnx_engine.
onnx_encoder`:

* ``engine="openvino"``: OpenVINO, or :class:`~modelhub.errors.EngineUnavailable`;
* ``engine="auto"``: OpenVINO when the ``openvino`` package is installed, a derived folder
  is given and the conversion passed its self-check against torch; otherwise None.

The model is converted once per cache entry and conversion settings by OpenVINO's own
converter (``openvino.convert_model`` on transformers' eager-attention module, traced on
a padded batch, dynamic batch and sequence axes) and saved as an IR pair (``model.xml`` +
``model.bin``, float32 weights) in a derived folder ``openvino-<key>/``
(:mod:`modelhub.derived`: written atomically, each file's SHA-256 in its manifest,
covered by ``cache verify``, removed with its entry). The key hashes the model's config
and weights, the settings and the versions of torch, transformers and openvino. The
self-check is the ONNX engine's: hidden states of a fixed padded probe batch within
:data:`~modelhub.loaders.engines.onnx_engine.CHECK_BOUND` of torch's.

It runs on the CPU with ``INFERENCE_PRECISION_HINT=f32``: OpenVINO's own default on a CPU
with native bf16 (AVX512-BF16, AMX) is bf16, which changes vectors (and would make them
depend on the machine); modelhub's defaults are float32-exact everywhere. Threads: the
caller's ``num_threads``, else OpenVINO's default (one per physical core).

Compiling the IR (weight repacking, graph transformations) costs about twice what loading
the same weights into torch does. OpenVINO's compile cache would halve that, but its blobs
are compiled code that OpenVINO loads as is, and a cache may be shared (group-writable):
only files whose SHA-256 the folder's manifest holds are ever read, so the cache is off.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.derived import check_folder, discard, read_manifest, write_folder
from modelhub.errors import ArtifactFormatError, EngineUnavailable
from modelhub.loaders.engines.onnx_engine import CHECK_BOUND, passed_check, self_check
from modelhub.loaders.engines.onnx_export import derived_key, source_digest
from modelhub.loaders.hf import HFDirectory

log = logging.getLogger(__name__)

FOLDER_PREFIX = "openvino-"
XML_NAME = "model.xml"
BIN_NAME = "model.bin"
OUTPUT_NAME = "last_hidden_state"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Bumped when the way modelhub converts the model changes.
CONVERT_FORMAT = 1
#: One batch per call, synchronously: the latency hint (no request streams).
PERFORMANCE_HINT = "LATENCY"
#: OpenVINO's compile cache, inside the derived folder (see the module doc).


@dataclass(frozen=True, slots=True)
class ConvertSettings:
    """How the model is converted; part of the derived folder's key."""

    attention: str = "eager"  # transformers' attn_implementation while tracing

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "openvino", **asdict(self)}


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def versions() -> dict[str, str]:
    """The library versions the converted graph depends on (installed distributions)."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    # Reading three distributions' metadata costs ~10 ms: once per process, not per load.
    from importlib.metadata import PackageNotFoundError, version

    found = {"format": str(CONVERT_FORMAT)}
    for dist in ("torch", "transformers", "openvino"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            raise ImportError(f"{dist} is not installed") from None
    return tuple(found.items())


def compile_config(num_threads: int | None) -> dict[str, str]:
    """CPU plugin properties: float32 inference (not the bf16 default of CPUs with native
    bf16), the latency hint, ``num_threads`` inference threads when given."""
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": PERFORMANCE_HINT}
    if num_threads:
        config["INFERENCE_NUM_THREADS"] = str(int(num_threads))
    return config


class OpenVinoEncoder:
    """A converted encoder compiled for the CPU: ``encoder(input_ids, attention_mask,
    token_type_ids)`` takes int arrays ``[batch, seq]`` (numpy or torch) and returns the
    last hidden states as float32 numpy ``[batch, seq, hidden]``. An OpenVINO infer
    request runs one batch at a time, so each calling thread gets its own."""

    name = "openvino"
    device = "cpu"
    dtype = "float32"

    def __init__(self, xml: Path, *, num_threads: int | None = None) -> None:
        import openvino as ov

        self.path = Path(xml)
        core = ov.Core()
        try:
            self.compiled = core.compile_model(str(self.path), "CPU", compile_config(num_threads))
        except RuntimeError as exc:
            raise ArtifactFormatError(
                f"{self.path}: OpenVINO cannot compile this graph "
                f"({str(exc).strip().splitlines()[0]})"
            ) from None
        self.inputs = tuple(p.get_any_name() for p in self.compiled.inputs)
        self._output = self.compiled.output(OUTPUT_NAME)
        self._local = threading.local()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request

    def __call__(
        self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None
    ) -> np.ndarray:
        ids = _numpy(input_ids)
        given = {"input_ids": ids, "attention_mask": _numpy(attention_mask)}
        if "token_type_ids" in self.inputs:
            given["token_type_ids"] = (
                np.zeros_like(ids) if token_type_ids is None else _numpy(token_type_ids)
            )
        # share_outputs=False: a copy, not a view the next call overwrites.
        result = self._request().infer(
            {n: given[n] for n in self.inputs}, share_inputs=True, share_outputs=False
        )
        return np.asarray(result[self._output], dtype=np.float32)

    def __repr__(self) -> str:
        return f"OpenVinoEncoder({str(self.path)!r})"


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.int64)


def convert(hf: HFDirectory, folder: Path, settings: ConvertSettings) -> dict[str, Any]:
    """Write ``folder/model.xml`` + ``model.bin`` for ``hf``; returns what the manifest
    records about it."""
    import warnings

    import openvino as ov
    import torch

    from modelhub.loaders.engines.onnx_export import _export_model, uses_token_types

    model = _export_model(hf, settings.attention)
    names = list(INPUT_NAMES if uses_token_types(hf, model) else INPUT_NAMES[:2])

    class _Hidden(torch.nn.Module):  # the last hidden state only (no pooler to compute)
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra)[0]

    ids = torch.full((2, 8), 5, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded row: no "mask is all ones" shortcut may be traced in
    example = dict(zip(names, (ids, mask, torch.zeros_like(ids)), strict=False))
    # The tracer warns about Python branches on shapes in transformers' code; the
    # self-check against torch is what decides whether the graph is used.
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        ir = ov.convert_model(
            _Hidden(model),
            example_input=example,
            input=[(n, ov.PartialShape([-1, -1]), ov.Type.i64) for n in names],
        )
    del model
    for port, name in zip(ir.inputs, names, strict=True):
        port.get_tensor().set_names({name})
    ir.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    ov.save_model(ir, str(folder / XML_NAME), compress_to_fp16=False)
    return {"inputs": names, "output": OUTPUT_NAME}


def openvino_encoder(
    hf: HFDirectory,
    *,
    engine: str = "auto",
    derived_dir: Path | None = None,
    num_threads: int | None = None,
    torch_model: Callable[[], Any],
    settings: ConvertSettings | None = None,
) -> OpenVinoEncoder | None:
    """The OpenVINO encoder for ``hf``, or None (see the module doc). ``torch_model()``
    gives the loaded float32 torch model; it is called only to self-check a conversion."""
    if engine not in ("auto", "openvino"):
        raise ValueError(f"engine={engine!r}: use 'auto' or 'openvino'")
    forced = engine == "openvino"
    if not openvino_installed():
        if forced:
            raise EngineUnavailable(
                "engine='openvino' needs the openvino package: pip install "
                "'modelhub[openvino]' (or use engine='onnx' or 'torch')"
            )
        return None
    settings = settings or ConvertSettings()
    if derived_dir is None:
        if not forced:
            return None
        with tempfile.TemporaryDirectory(prefix="modelhub-openvino-") as tmp:
            folder = _derive(hf, Path(tmp), "openvino-tmp", settings, num_threads, torch_model)
            return _open(hf, folder, forced=True, fresh=True, num_threads=num_threads)
    derived_dir = Path(derived_dir)
    try:
        key = derived_key(source_digest(hf, derived_dir), settings, versions())  # type: ignore[arg-type]
    except ImportError as exc:  # torch or transformers missing: nothing to convert from
        if forced:
            raise EngineUnavailable(f"engine='openvino' cannot convert {hf.root}: {exc}") from exc
        return None
    folder = derived_dir / f"{FOLDER_PREFIX}{key}"
    manifest = read_manifest(folder)
    if manifest is not None:
        problems = check_folder(folder, hashes="stamp", manifest=manifest)
        if not problems:
            return _open(hf, folder, forced=forced, fresh=False, num_threads=num_threads)
        log.warning(
            "the derived OpenVINO model %s is damaged (%s): deleting it and converting again",
            folder,
            "; ".join(problems),
        )
        discard(folder)
    try:
        folder = _derive(hf, derived_dir, folder.name, settings, num_threads, torch_model)
    except OSError as exc:  # a read-only cache: nothing to keep
        if forced:
            raise EngineUnavailable(
                f"cannot write the OpenVINO conversion of {hf.root}: {exc}"
            ) from exc
        log.warning("cannot write the OpenVINO conversion of %s (%s)", hf.root, exc)
        return None
    return _open(hf, folder, forced=forced, fresh=True, num_threads=num_threads)


def _derive(
    hf: HFDirectory,
    parent: Path,
    name: str,
    settings: ConvertSettings,
    num_threads: int | None,
    torch_model: Callable[[], Any],
) -> Path:
    """Convert, self-check and record in one atomic derived folder; a failed conversion
    is recorded too (``error``, no graph), so it is not attempted on every load."""

    def build(tmp: Path) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "kind": "openvino",
            "model": str(hf.root),
            "settings": settings.to_dict(),
            "versions": versions(),
        }
        started = time.perf_counter()
        try:
            meta.update(convert(hf, tmp, settings))
            encoder = OpenVinoEncoder(tmp / XML_NAME, num_threads=num_threads)
            diff, cosine = self_check(encoder, torch_model(), hf)  # type: ignore[arg-type]
            del encoder
        except Exception as exc:  # the converter raises anything; record, fall back
            for p in tmp.iterdir():
                p.unlink()
            meta["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            return meta
        meta["check"] = {
            "max_abs": diff,
            "min_cosine": cosine,
            "passed": diff <= CHECK_BOUND,
            "bound": CHECK_BOUND,
        }
        meta["convert_seconds"] = round(time.perf_counter() - started, 3)
        return meta

    folder = write_folder(parent, name, build)
    manifest = read_manifest(folder) or {}
    if manifest.get("error") is None:
        log.info(
            "converted %s to OpenVINO in %.1fs (self-check max abs %.2g)",
            hf.root,
            manifest.get("convert_seconds", 0.0),
            manifest.get("check", {}).get("max_abs", float("nan")),
        )
    return folder


def _open(
    hf: HFDirectory, folder: Path, *, forced: bool, fresh: bool, num_threads: int | None
) -> OpenVinoEncoder | None:
    manifest = read_manifest(folder) or {}
    if not passed_check(
        manifest,
        root=hf.root,
        engine="openvino",
        made="converted to OpenVINO",
        what="OpenVINO conversion",
        forced=forced,
        fresh=fresh,
    ):
        return None
    return OpenVinoEncoder(folder / XML_NAME, num_threads=num_threads)


__all__ = [
    "ConvertSettings",
    "OpenVinoEncoder",
    "compile_config",
    "openvino_encoder",
    "openvino_installed",
]
