"""Exporting a BERT-family Hugging Face directory to ONNX, once per model and
export settings, into a derived folder (see :mod:`modelhub.derived`).

The derived folder is ``<derived_dir>/onnx-<key>/`` (``model.onnx`` +
``derived.json``). ``<key>`` hashes what the graph depends on: the SHA-256 of
``config.json`` and of the weight files, the export settings, and the versions
of torch, transformers and onnxruntime (a new version may export or fuse
differently). The weights' digest is memoised in ``<derived_dir>/source.json``
by file size, mtime and inode, so a load hashes them only when they changed.

How the graph is made (``bench/onnx_matrix.py`` measured the choices):
transformers' *eager* attention exported with the TorchScript exporter, then
``onnxruntime.transformers.optimizer`` fuses it (``model_type="bert"``:
Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu). An SDPA
export, and the dynamo exporter's graph, are not recognised by those fusions and
run up to 2x slower in ONNX Runtime.

torch, transformers and onnxruntime are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelhub.derived import digest_files
from modelhub.errors import ArtifactFormatError
from modelhub.loaders.hf import HFDirectory

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
SOURCE_NAME = "source.json"
FOLDER_PREFIX = "onnx-"
# Bumped when the way modelhub builds the graph changes.
EXPORT_FORMAT = 1
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """How the graph is exported; part of the derived folder's key."""

    opset: int = 17
    exporter: str = "torchscript"  # or "dynamo"
    attention: str = "eager"  # transformers' attn_implementation while exporting
    fusion: str = "bert"  # onnxruntime.transformers.optimizer model_type, or "none"
    quantize: str = "none"  # "int8": dynamic int8 quantization of the weights (lossy)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def versions() -> dict[str, str]:
    """The library versions the exported graph depends on, read from the
    installed distributions (importing transformers would cost a warm load
    about a second)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"format": str(EXPORT_FORMAT)}
    for dist in ("torch", "transformers", "onnxruntime"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            raise ImportError(f"{dist} is not installed") from None
    return found


def source_files(hf: HFDirectory) -> list[Path]:
    """config.json and every weight file (the shards an index names)."""
    files = [hf.root / "config.json", hf.weights]
    if hf.weights.name.endswith(".index.json"):
        try:
            index = json.loads(hf.weights.read_text(encoding="utf-8"))
            shards = sorted(set(index.get("weight_map", {}).values()))
        except (OSError, ValueError, AttributeError) as exc:
            raise ArtifactFormatError(f"{hf.weights}: not a readable weight index ({exc})") from exc
        files += [hf.root / s for s in shards]
    return files


def source_digest(hf: HFDirectory, derived_dir: Path | None) -> str:
    """SHA-256 over the model's config and weights, memoised by file stamps
    in ``derived_dir/source.json`` (rehashed when any stamp differs)."""
    files = source_files(hf)
    memo = derived_dir / SOURCE_NAME if derived_dir is not None else None
    try:
        return digest_files({f.name: f for f in files}, memo)
    except OSError as exc:
        raise ArtifactFormatError(f"{hf.root}: cannot read the model files ({exc})") from exc


def derived_key(digest: str, settings: ExportSettings, libs: dict[str, str]) -> str:
    blob = json.dumps(
        {"source": digest, "settings": settings.to_dict(), "versions": libs}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def uses_token_types(hf: HFDirectory, model: Any) -> bool:
    return (
        "token_type_ids" in inspect.signature(model.forward).parameters
        and int(hf.config.get("type_vocab_size", 0) or 0) > 0
    )


def _export_model(hf: HFDirectory, attention: str) -> Any:
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    from modelhub.loaders.hf import ENCODER_ONLY

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        # T5: the encoder stack only, as the torch engine runs it.
        auto = (
            transformers.T5EncoderModel if hf.model_type in ENCODER_ONLY else transformers.AutoModel
        )
        model = auto.from_pretrained(
            str(hf.root),
            trust_remote_code=False,
            local_files_only=True,
            use_safetensors=hf.safetensors,
            weights_only=True,
            dtype=torch.float32,
            attn_implementation=attention,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    return model.eval()


def export_onnx(hf: HFDirectory, folder: Path, settings: ExportSettings) -> dict[str, Any]:
    """Write ``folder/model.onnx`` for ``hf``; returns what the manifest
    records about it (inputs, fusions)."""
    import torch

    model = _export_model(hf, settings.attention)
    names = list(INPUT_NAMES if uses_token_types(hf, model) else INPUT_NAMES[:2])

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(names, args, strict=True)))[0]

    # Any id the embedding table has (a tiny test vocabulary may hold fewer than 6).
    vocab = int(hf.config.get("vocab_size", 0) or 0)
    ids = torch.full((2, 8), min(5, max(vocab - 1, 0)), dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded row: no "mask is all ones" shortcut may be traced in
    example = (ids, mask, torch.zeros_like(ids))[: len(names)]
    raw = folder / (ONNX_NAME if settings.fusion == "none" else "raw.onnx")
    kwargs: dict[str, Any] = {}
    if settings.exporter == "dynamo":
        b, s = torch.export.Dim("batch"), torch.export.Dim("seq", max=4096)
        kwargs["dynamic_shapes"] = tuple({0: b, 1: s} for _ in names)
    else:
        dyn = {0: "batch", 1: "seq"}
        kwargs["dynamic_axes"] = {n: dyn for n in [*names, OUTPUT_NAME]}
    # The exporters print diagnostics and warn about tracing; the caller logs the outcome.
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        torch.inference_mode(False),
        torch.no_grad(),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden(model),
            example,
            str(raw),
            input_names=names,
            output_names=[OUTPUT_NAME],
            opset_version=settings.opset,
            dynamo=settings.exporter == "dynamo",
            **kwargs,
        )
    del model
    fusions: dict[str, int] = {}
    if settings.fusion != "none":
        fusions = _fuse(hf, raw, folder / ONNX_NAME, settings.fusion)
        raw.unlink()
    if settings.quantize == "int8":
        _quantize_int8(folder / ONNX_NAME)
    return {"inputs": names, "output": OUTPUT_NAME, "fusions": fusions}


def _quantize_int8(graph: Path) -> None:
    """Dynamic int8 quantization (int8 weights, activations quantized per
    batch at run time): MatMul/Attention in int8, VNNI kernels where the CPU
    has them. Lossy: the self-check bounds it by cosine, not 1e-4."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = graph.with_name("int8.onnx")
    # The quantizer advises pre-processing through the root logger (logging.warning,
    # which also installs a stderr handler on a bare root): not the user's business.
    root = logging.getLogger()
    handlers = list(root.handlers)
    hush = _DropFrom("quantize")
    root.addFilter(hush)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_dynamic(
                str(graph),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=True,
                # The fused contrib ops (Attention, SkipLayerNormalization) defeat
                # shape inference: their outputs are float32.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
    finally:
        root.removeFilter(hush)
        for h in root.handlers[:]:
            if h not in handlers:
                root.removeHandler(h)
    os.replace(target, graph)


class _DropFrom(logging.Filter):
    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module

    def filter(self, record: logging.LogRecord) -> bool:
        return record.module != self.module


def _fuse(hf: HFDirectory, source: Path, target: Path, model_type: str) -> dict[str, int]:
    from onnxruntime.transformers import optimizer

    heads = int(hf.config.get("num_attention_heads", 0) or hf.config.get("n_heads", 0) or 0)
    hidden = int(hf.config.get("hidden_size", 0) or hf.config.get("dim", 0) or 0)
    # onnxruntime.transformers logs each fusion at INFO under module names
    # ("fusion_base", "onnx_model_bert"): not the user's business.
    quiet = [
        logging.getLogger(n)
        for n in list(logging.root.manager.loggerDict)
        if n.startswith(("fusion", "onnx_model", "optimizer", "onnxruntime"))
    ]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            fused = optimizer.optimize_model(
                str(source),
                model_type=model_type,
                num_heads=heads,
                hidden_size=hidden,
                opt_level=0,  # the fusions only; the session applies its own passes
            )
            counts = fused.get_fused_operator_statistics()
            fused.save_model_to_file(str(target))
    finally:
        for lg, lv in zip(quiet, levels, strict=True):
            lg.setLevel(lv)
    return {k: int(v) for k, v in sorted(counts.items()) if v}
