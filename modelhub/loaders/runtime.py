"""Choosing the device and the compute dtype (torch imported lazily)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

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


def resolve_device(device: Any = "auto") -> Any:
    """A ``torch.device``: ``"auto"`` is CUDA when available, else CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for, but CUDA is not available here")
    return dev


def resolve_dtype(dtype: Any, device: Any) -> Any:
    """The compute dtype: ``"auto"`` is bfloat16 on GPUs that support it and
    on CPUs with native BF16, float32 otherwise."""
    import torch

    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        name = _DTYPES.get(str(dtype).lower(), "")
    if name not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"dtype={dtype!r}: use 'auto', 'float32', 'bfloat16' or 'float16'")
    return getattr(torch, name)
