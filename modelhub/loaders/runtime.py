"""Choosing the device and the compute dtype (torch imported lazily)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from modelhub.errors import OptionError

log = logging.getLogger(__name__)

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    # int8 weights and activations, computed by ONNX Runtime (lossy, opt-in)
    "int8": "int8",
    "qint8": "int8",
}


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX), so
    bf16 autocast is faster than float32 rather than emulated."""
    flags = cpu_flags()
    if flags:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    try:  # no /proc/cpuinfo (macOS, Windows): ask torch's CPU dispatch level
        import torch

        return torch.backends.cpu.get_cpu_capability() == "AMX" or bool(
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except Exception:
        return False


#: What ``device=`` accepts, in words (the messages and the CLI's help).
DEVICES_TEXT = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
#: What ``dtype=`` accepts, in words: ``auto`` and every alias of ``_DTYPES``.
DTYPES_TEXT = (
    "'auto', 'float32' (also 'fp32', 'float'), 'bfloat16' ('bf16'), 'float16' ('fp16', 'half') "
    "or 'int8' ('qint8', ONNX Runtime)"
)


def check_device(device: Any) -> str:
    """``device`` as a lower-case string, checked without importing torch; an
    :class:`~modelhub.errors.OptionError` naming what is accepted otherwise. A
    ``torch.device`` passes as its string."""
    text = "auto" if device is None else str(device).strip().lower()
    kind, _, index = text.partition(":")
    if kind in ("auto", "cpu", "mps") and not index:
        return text
    if kind == "cuda" and (not index or index.isdigit()):
        return text
    raise OptionError(f"device={device!r}: use {DEVICES_TEXT}")


def check_dtype(dtype: Any) -> str:
    """``dtype``'s canonical name (``auto``, ``float32``, ``bfloat16``,
    ``float16``, ``int8``), checked without importing torch; a ``torch.dtype`` passes.
    An :class:`~modelhub.errors.OptionError` listing what is accepted otherwise."""
    if dtype is None:
        return "auto"
    text = str(dtype).removeprefix("torch.").strip().lower()
    if text == "auto":
        return text
    name = _DTYPES.get(text)
    if name is None:
        raise OptionError(f"dtype={dtype!r}: use {DTYPES_TEXT}")
    return name


def resolve_device(device: Any = "auto") -> Any:
    """A ``torch.device``: ``"auto"`` is CUDA when available, else CPU. A
    device this machine lacks is an :class:`~modelhub.errors.OptionError`."""
    import torch

    text = check_device(device)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(text)
    if dev.type == "cuda" and not torch.cuda.is_available():
        built = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA device found"
        raise OptionError(
            f"device={device!r} asked for, but CUDA is not available here ({built}, "
            f"torch {torch.__version__}); use device='cpu' or 'auto'"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise OptionError(
            f"device={device!r} asked for, but MPS is not available here; use device='cpu' "
            "or 'auto'"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise OptionError(
            f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return dev


def resolve_dtype(dtype: Any, device: Any) -> Any:
    """The compute dtype. ``"auto"`` is float32 on CPUs (exact, the same
    vectors on every machine; bfloat16/float16 are opt-in) and bfloat16 on
    GPUs that support it (float32 otherwise)."""
    import torch

    name = check_dtype(dtype)
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float32
    if name == "int8":
        raise OptionError(
            f"dtype={dtype!r} runs on ONNX Runtime (engine='auto' or 'onnx', onnxruntime "
            "installed); torch computes in 'float32', 'bfloat16' or 'float16'"
        )
    return getattr(torch, name)
